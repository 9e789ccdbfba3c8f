"""parse_tool_call_block: Qwen/Hermes JSON and Mistral formats, schema checks (bounded, never raising),
and what is unrecognized."""

from __future__ import annotations

import time

import pytest

from paddler.engine.parse_tool_calls import ToolSchemas, parse_tool_call_block
from paddler.messages.generate_tokens_params import ToolDefinition
from paddler.messages.generated_token_result import ParsedToolCall

WEATHER = ToolDefinition(
    "get_weather",
    {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]},
)


def test_a_qwen_json_call_is_parsed_and_numbered() -> None:
    event = parse_tool_call_block(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', [WEATHER], first_id=2
    )
    assert event.kind == "ToolCallParsed"
    (call,) = event.calls
    assert (call.id, call.name, call.arguments, call.invalid_arguments) == (
        "call_2",
        "get_weather",
        {"city": "Paris"},
        None,
    )


def test_arguments_given_as_a_json_string_and_as_invalid_text() -> None:
    event = parse_tool_call_block(
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}</tool_call>', [WEATHER], first_id=0
    )
    assert event.calls[0].arguments == {"city": "Rome"}
    invalid = parse_tool_call_block(
        '<tool_call>{"name": "get_weather", "arguments": "{city: Rome"}</tool_call>', [WEATHER], first_id=0
    )
    assert invalid.kind == "ToolCallParsed", "invalid JSON arguments skip the schema check"
    assert invalid.calls[0].invalid_arguments == "{city: Rome"


def test_unknown_tools_and_schema_violations() -> None:
    unknown = parse_tool_call_block('<tool_call>{"name": "launch", "arguments": {}}</tool_call>', [WEATHER], 0)
    assert (unknown.kind, unknown.errors) == ("ToolCallValidationFailed", ('unknown tool name "launch"',))
    wrong = parse_tool_call_block(
        '<tool_call>{"name": "get_weather", "arguments": {"city": 5}}</tool_call>', [WEATHER], 0
    )
    assert wrong.kind == "ToolCallValidationFailed"
    assert wrong.errors[0].startswith('arguments for tool "get_weather" failed schema check: 5 is not of type')


def test_mistral_formats() -> None:
    named = parse_tool_call_block('[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}', [WEATHER], 0)
    assert named.calls[0].arguments == {"city": "Oslo"}
    listed = parse_tool_call_block('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]', [WEATHER], 0)
    assert listed.calls[0].name == "get_weather"


def test_unrecognized_text() -> None:
    event = parse_tool_call_block("call get_weather(Paris)", [WEATHER], 0)
    assert event.kind == "UnrecognizedToolCallFormat"
    assert event.text == "call get_weather(Paris)"
    broken = parse_tool_call_block("<tool_call>{not json</tool_call>", [WEATHER], 0)
    assert broken.kind == "UnrecognizedToolCallFormat"
    assert "not JSON" in broken.errors[0]


def _echo_call(text: str) -> str:
    return '<tool_call>{"name": "echo", "arguments": {"text": "' + text + '"}}</tool_call>'


def test_a_catastrophic_pattern_is_checked_in_linear_time() -> None:
    echo = ToolDefinition("echo", {"type": "object", "properties": {"text": {"type": "string", "pattern": "^(a|a)*$"}}})
    for length in (25, 200_000):  # Python's `re` takes seconds on the first and never ends on the second
        started = time.monotonic()
        event = parse_tool_call_block(_echo_call("a" * length + "!"), [echo], 0)
        assert time.monotonic() - started < 1.0
        assert event.kind == "ToolCallValidationFailed"
        assert "does not match '^(a|a)*$'" in event.errors[0]
    assert parse_tool_call_block(_echo_call("aaaa"), [echo], 0).kind == "ToolCallParsed"


@pytest.mark.parametrize("reference", ["#/$defs/missing", "http://127.0.0.1:9/echo.json"])
def test_a_schema_that_cannot_be_evaluated_fails_the_call_and_raises_nothing(reference: str) -> None:
    echo = ToolDefinition("echo", {"type": "object", "properties": {"text": {"$ref": reference}}})
    event = parse_tool_call_block(_echo_call("hi"), [echo, WEATHER], 0)
    assert event.kind == "ToolCallValidationFailed"
    assert event.errors[0].startswith('arguments for tool "echo" could not be checked against its schema: $ref')
    weather = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    assert parse_tool_call_block(weather, [echo, WEATHER], 1).kind == "ToolCallParsed"


def test_a_validator_is_built_once_per_tool() -> None:
    schemas = ToolSchemas([WEATHER])
    call = ParsedToolCall("call_0", "get_weather", {"city": "Oslo"}, None)
    assert schemas.problem(call) is None
    built = schemas._validators["get_weather"]
    assert schemas.problem(ParsedToolCall("call_1", "get_weather", {"city": 1}, None)) is not None
    assert schemas._validators["get_weather"] is built
