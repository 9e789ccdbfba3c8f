"""One tool-call block of generated text into a ToolCallEvent: its calls (in any format
tool_call_formats reads) checked against the tools' JSON schemas, or the reason they could not be; and
the request-time checks of those schemas."""

from __future__ import annotations

import json
from collections.abc import Sequence

import jsonschema

from paddler.engine.engine_errors import UnsafeSchemaError
from paddler.engine.safe_schema_validator import Validator, safe_validator
from paddler.engine.tool_call_formats import UnrecognizedToolCallError, extract_calls
from paddler.messages.generate_tokens_params import ToolDefinition
from paddler.messages.generated_token_result import ParsedToolCall, ToolCallEvent


class ToolSchemas:
    """The tools of one request, with a validator of each one's parameters built at its first call and
    kept for the rest of the request. Checking a call never raises: whatever goes wrong is that call's
    failure."""

    def __init__(self, tools: Sequence[ToolDefinition]) -> None:
        self.tools = tuple(tools)
        self._by_name = {tool.name: tool for tool in self.tools}
        self._validators: dict[str, Validator] = {}

    def _validator(self, tool: ToolDefinition) -> Validator:
        validator = self._validators.get(tool.name)
        if validator is None:
            validator = safe_validator(tool.parameters)
            self._validators[tool.name] = validator
        return validator

    def problem(self, call: ParsedToolCall) -> str | None:
        """Why `call` does not fit the tools, or None."""
        tool = self._by_name.get(call.name)
        if tool is None:
            return f"unknown tool name {json.dumps(call.name)}"
        if tool.parameters is None or call.invalid_arguments is not None:
            return None
        try:
            error = jsonschema.exceptions.best_match(self._validator(tool).iter_errors(call.arguments))
        except Exception as failure:  # a schema or an instance must never stop the engine
            return f"arguments for tool {json.dumps(call.name)} could not be checked against its schema: {failure}"
        if error is None:
            return None
        return f"arguments for tool {json.dumps(call.name)} failed schema check: {error.message}"


def invalid_tool_schema(tools: Sequence[ToolDefinition]) -> tuple[int, str] | None:
    """The index of the first tool whose parameters are not a JSON Schema, and Paddler's message."""
    for index, tool in enumerate(tools):
        if tool.parameters is None:
            continue
        try:
            jsonschema.validators.validator_for(tool.parameters).check_schema(tool.parameters)
        except jsonschema.exceptions.SchemaError as error:
            return index, f"tool {json.dumps(tool.name)} parameters are not a valid JSON Schema: {error.message}"
        except RecursionError:
            return index, f"tool {json.dumps(tool.name)} parameters are not a valid JSON Schema: nested too deeply"
    return None


def unsafe_tool_schema(tools: Sequence[ToolDefinition]) -> tuple[int, str] | None:
    """The index of the first tool whose parameters cannot be evaluated safely (a `$ref` outside the
    schema or to nothing in it, a pattern RE2 cannot run), and a message naming the tool. Expects
    schemas that passed invalid_tool_schema."""
    for index, tool in enumerate(tools):
        if tool.parameters is None:
            continue
        try:
            safe_validator(tool.parameters)
        except UnsafeSchemaError as error:
            return index, f"tool {json.dumps(tool.name)} parameters cannot be checked safely: {error}"
    return None


def parse_tool_call_block(text: str, tools: ToolSchemas | Sequence[ToolDefinition], first_id: int) -> ToolCallEvent:
    """`first_id` numbers the calls (call_0, call_1, …) across the blocks of one response. Never
    raises: it runs on the engine thread."""
    schemas = tools if isinstance(tools, ToolSchemas) else ToolSchemas(tools)
    try:
        extracted = extract_calls(text, schemas.tools)
    except UnrecognizedToolCallError as error:
        return ToolCallEvent("UnrecognizedToolCallFormat", text=text, errors=(str(error),))
    except Exception as error:  # model output must never stop the engine
        return ToolCallEvent("ToolCallParseFailed", errors=(f"bindings parse failed: {error}",))
    calls = tuple(
        ParsedToolCall(f"call_{first_id + index}", call.name, call.arguments, call.invalid_arguments)
        for index, call in enumerate(extracted)
    )
    errors = [problem for problem in map(schemas.problem, calls) if problem is not None]
    if errors:
        return ToolCallEvent("ToolCallValidationFailed", errors=tuple(errors))
    return ToolCallEvent("ToolCallParsed", calls=calls)
