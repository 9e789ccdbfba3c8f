"""One tool-call block of generated text into a ToolCallEvent: parsed calls checked against the tools'
JSON schemas, or the reason they could not be. Formats: the Qwen/Hermes JSON object inside
<tool_call>…</tool_call>, and Mistral's [TOOL_CALLS]NAME[ARGS]{…} (or [TOOL_CALLS][{…}])."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import jsonschema

from paddler.messages.generate_tokens_params import ToolDefinition
from paddler.messages.generated_token_result import ParsedToolCall, ToolCallEvent

_MISTRAL_NAMED = re.compile(r"\[TOOL_CALLS\]\s*([A-Za-z0-9_.\-]+)\s*\[ARGS\](.*)", re.DOTALL)


class _UnrecognizedError(ValueError):
    pass


def _arguments(raw: Any) -> tuple[object, str | None]:
    if isinstance(raw, str):
        try:
            return json.loads(raw), None
        except ValueError:
            return None, raw
    return raw, None


def _from_objects(objects: Sequence[Any]) -> list[tuple[str, object, str | None]]:
    calls = []
    for value in objects:
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise _UnrecognizedError('a tool call must be an object with a string "name"')
        arguments, invalid = _arguments(value.get("arguments", value.get("parameters", {})))
        calls.append((value["name"], arguments, invalid))
    return calls


def _extract(text: str) -> list[tuple[str, object, str | None]]:
    stripped = text.strip()
    if stripped.startswith("<tool_call>"):
        body = stripped.removeprefix("<tool_call>").removesuffix("</tool_call>").strip()
        try:
            document = json.loads(body)
        except ValueError as error:
            raise _UnrecognizedError(f"tool call is not JSON: {error}") from None
        return _from_objects(document if isinstance(document, list) else [document])
    named = _MISTRAL_NAMED.match(stripped)
    if named:
        arguments, invalid = _arguments(named.group(2).strip())
        return [(named.group(1), arguments, invalid)]
    if stripped.startswith("[TOOL_CALLS]"):
        try:
            document = json.loads(stripped.removeprefix("[TOOL_CALLS]").strip())
        except ValueError as error:
            raise _UnrecognizedError(f"tool call is not JSON: {error}") from None
        return _from_objects(document if isinstance(document, list) else [document])
    raise _UnrecognizedError("no known tool-call format matched")


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
        extracted = _extract(text)
    except _UnrecognizedError as error:
        return ToolCallEvent("UnrecognizedToolCallFormat", text=text, errors=(str(error),))
    except (TypeError, ValueError, RecursionError) as error:
        return ToolCallEvent("ToolCallParseFailed", errors=(f"bindings parse failed: {error}",))
    calls = tuple(
        ParsedToolCall(f"call_{first_id + index}", name, arguments, invalid)
        for index, (name, arguments, invalid) in enumerate(extracted)
    )
    errors = _validation_errors(calls, tools)
    if errors:
        return ToolCallEvent("ToolCallValidationFailed", errors=tuple(errors))
    return ToolCallEvent("ToolCallParsed", calls=calls)
