"""Tool calls through the OpenAI API, with the official openai package: under a Qwen3-style template
(given with --chat-template-file) a required or named tool choice makes SmolLM2 call a tool, the call
comes back whole (and as streamed deltas), and the conversation goes on with the tool's result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from .conftest import RunningServer, openai_client, start_server, stop_server

MODEL = "agent-1"
TEMPLATE = Path(__file__).parent / "templates" / "qwen3_style_tools.jinja"
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current time in a time zone",
            "parameters": {"type": "object"},
        },
    },
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER_PARAMETERS},
    },
]
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def tool_server(default_model_path: Path) -> Iterator[RunningServer]:
    running = start_server(default_model_path, "--temperature", "0", "--chat-template-file", str(TEMPLATE))
    yield running
    stop_server(running)


@pytest.fixture
def client(tool_server: RunningServer) -> openai.OpenAI:
    return openai_client(tool_server.inference_url)


def test_a_required_call_round_trips_with_the_tool_result(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=64,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMETERS)
    assert first.usage is not None
    assert first.usage.completion_tokens > 5

    history: list[Any] = [
        *QUESTION,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny and 22 degrees Celsius."},
    ]
    second = client.chat.completions.create(
        model=MODEL, messages=history, tools=TOOLS, tool_choice="none", max_tokens=24
    )
    answer = second.choices[0]
    assert answer.finish_reason in ("stop", "length")
    assert answer.message.tool_calls is None
    assert answer.message.content
    alone = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="none", max_tokens=1
    )
    assert second.usage is not None
    assert alone.usage is not None
    assert second.usage.prompt_tokens > alone.usage.prompt_tokens + 20, "the call and its result are in the prompt"
    assert "22" in answer.message.content, "the answer uses the tool's result"


def test_streamed_tool_call_arguments_arrive_as_the_model_writes_them(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="required", max_tokens=64
    )
    assert whole.choices[0].message.tool_calls is not None
    (expected,) = whole.choices[0].message.tool_calls
    assert expected.type == "function"
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="required", max_tokens=64, stream=True
        )
    )
    deltas = [call for chunk in chunks if chunk.choices for call in chunk.choices[0].delta.tool_calls or []]
    assert len(deltas) > 3, "the arguments come in pieces, not whole"
    assert {delta.index for delta in deltas} == {0}
    first, rest = deltas[0], deltas[1:]
    assert first.id
    assert first.function is not None
    assert first.function.name == expected.function.name
    assert all(delta.id is None and delta.function is not None and delta.function.name is None for delta in rest)
    arguments = "".join(delta.function.arguments or "" for delta in deltas if delta.function is not None)
    assert json.loads(arguments) == json.loads(expected.function.arguments)
    finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finish == ["tool_calls"]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert "tool_call" not in text, "the call's text is not streamed as content"


def test_bad_tool_requests_are_400s(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown function"):
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}
        )
    with pytest.raises(openai.BadRequestError, match="not a valid JSON Schema"):
        client.chat.completions.create(
            model=MODEL,
            messages=QUESTION,
            tools=[{"type": "function", "function": {"name": "broken", "parameters": {"type": 123}}}],
        )
    with pytest.raises(openai.BadRequestError, match="needs tools"):
        client.chat.completions.create(model=MODEL, messages=QUESTION, tool_choice="required")


def test_a_template_without_tool_markers_cannot_require_a_call(server: RunningServer) -> None:
    default = openai_client(server.inference_url)
    with pytest.raises(openai.BadRequestError) as refused:
        default.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="required")
    assert "tool_call" in str(refused.value)
    assert refused.value.param == "tool_choice"
    # "auto" still works there: the tools reach the template and the answer is text.
    answer = default.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS, max_tokens=8)
    assert answer.choices[0].finish_reason in ("stop", "length")


def test_a_responses_function_call_round_trips(client: openai.OpenAI) -> None:
    tools: Any = [{"type": "function", **tool["function"]} for tool in TOOLS]
    question = "What is the weather in Paris?"
    first = client.responses.create(
        model=MODEL,
        input=question,
        tools=tools,
        tool_choice={"type": "function", "name": "get_weather"},
        max_output_tokens=64,
    )
    assert first.status == "completed"
    (call,) = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    jsonschema.validate(json.loads(call.arguments), WEATHER_PARAMETERS)

    events = list(
        client.responses.create(model=MODEL, input=question, tools=tools, tool_choice="required", stream=True)
    )
    assert [event.sequence_number for event in events] == list(range(len(events)))
    types = [event.type for event in events]
    assert types[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = events[4]
    assert done.type == "response.function_call_arguments.done"
    assert isinstance(json.loads(done.arguments), dict)

    answered: Any = [
        {"role": "user", "content": question},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny and 22 degrees Celsius."},
    ]
    second = client.responses.create(model=MODEL, input=answered, tools=tools, tool_choice="none", max_output_tokens=24)
    assert "22" in second.output_text, "the answer uses the tool's result"
