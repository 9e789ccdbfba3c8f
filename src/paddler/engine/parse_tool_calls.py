"""One tool-call block of generated text into a ToolCallEvent: its calls (in any format
tool_call_formats reads) checked against the tools' JSON schemas, or the reason they could not be."""

from __future__ import annotations

import json
from collections.abc import Sequence

import jsonschema

from paddler.engine.tool_call_formats import UnrecognizedToolCallError, extract_calls
from paddler.messages.generate_tokens_params import ToolDefinition
from paddler.messages.generated_token_result import ParsedToolCall, ToolCallEvent


def _validation_errors(calls: Sequence[ParsedToolCall], tools: Sequence[ToolDefinition]) -> list[str]:
    by_name = {tool.name: tool for tool in tools}
    errors = []
    for call in calls:
        tool = by_name.get(call.name)
        if tool is None:
            errors.append(f"unknown tool name {json.dumps(call.name)}")
            continue
        if tool.parameters is None or call.invalid_arguments is not None:
            continue
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(tool.parameters)(tool.parameters).iter_errors(call.arguments)
        )
        if error is not None:
            errors.append(f"arguments for tool {json.dumps(call.name)} failed schema check: {error.message}")
    return errors


def invalid_tool_schema(tools: Sequence[ToolDefinition]) -> tuple[int, str] | None:
    """The index of the first tool whose parameters are not a JSON Schema, and Paddler's message."""
    for index, tool in enumerate(tools):
        if tool.parameters is None:
            continue
        try:
            jsonschema.validators.validator_for(tool.parameters).check_schema(tool.parameters)
        except jsonschema.exceptions.SchemaError as error:
            return index, f"tool {json.dumps(tool.name)} parameters are not a valid JSON Schema: {error.message}"
    return None


def parse_tool_call_block(text: str, tools: Sequence[ToolDefinition], first_id: int) -> ToolCallEvent:
    """`first_id` numbers the calls (call_0, call_1, …) across the blocks of one response."""
    try:
        extracted = extract_calls(text, tools)
    except UnrecognizedToolCallError as error:
        return ToolCallEvent("UnrecognizedToolCallFormat", text=text, errors=(str(error),))
    except (TypeError, ValueError, RecursionError) as error:
        return ToolCallEvent("ToolCallParseFailed", errors=(f"bindings parse failed: {error}",))
    calls = tuple(
        ParsedToolCall(f"call_{first_id + index}", call.name, call.arguments, call.invalid_arguments)
        for index, call in enumerate(extracted)
    )
    errors = _validation_errors(calls, tools)
    if errors:
        return ToolCallEvent("ToolCallValidationFailed", errors=tuple(errors))
    return ToolCallEvent("ToolCallParsed", calls=calls)
