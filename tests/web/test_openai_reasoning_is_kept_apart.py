"""Thinking comes back apart from the answer: `reasoning_content` in chat completions and reasoning
items in the Responses API. The template opens the thinking block in the prompt (as DeepSeek-R1 and
Qwen3 thinking templates do), so SmolLM2 writes its answer as reasoning; `reasoning.effort: "none"` closes
it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from .conftest import RunningServer, openai_client, start_server, stop_server

MODEL = "agent-1"
TOOLS_TEMPLATE = Path(__file__).parent / "templates" / "qwen3_style_tools.jinja"
CLOSED = "{% if not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
OPENED = "{% if enable_thinking %}<think>\n{% else %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
QUESTION = "What is 2+2?"


@pytest.fixture(scope="module")
def thinking_server(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    template = TOOLS_TEMPLATE.read_text()
    assert CLOSED in template
    opened = tmp_path_factory.mktemp("templates") / "thinking_opened.jinja"
    opened.write_text(template.replace(CLOSED, OPENED))
    running = start_server(default_model_path, "--temperature", "0", "--chat-template-file", str(opened))
    yield running
    stop_server(running)


@pytest.fixture
def client(thinking_server: RunningServer) -> openai.OpenAI:
    return openai_client(thinking_server.inference_url)


def test_chat_returns_reasoning_content_whole_and_streamed(client: openai.OpenAI) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=30)
    message = whole.model_dump()["choices"][0]["message"]
    assert "4" in message["reasoning_content"]
    assert not message["content"]
    assert whole.usage is not None
    assert whole.usage.completion_tokens_details is not None
    assert whole.usage.completion_tokens_details.reasoning_tokens == whole.usage.completion_tokens
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=30, stream=True))
    streamed = "".join(
        chunk.choices[0].delta.model_dump().get("reasoning_content") or "" for chunk in chunks if chunk.choices
    )
    assert streamed == message["reasoning_content"]
    assert "think>" not in streamed


def test_responses_give_a_reasoning_item_unless_effort_is_none(client: openai.OpenAI) -> None:
    thought = client.responses.create(model=MODEL, input=QUESTION, max_output_tokens=30)
    reasoning = thought.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.content is not None
    assert "4" in reasoning.content[0].text
    assert thought.usage is not None
    assert thought.usage.output_tokens_details.reasoning_tokens > 0
    events = list(client.responses.create(model=MODEL, input=QUESTION, max_output_tokens=30, stream=True))
    deltas = "".join(event.delta for event in events if event.type == "response.reasoning_text.delta")
    assert deltas == reasoning.content[0].text
    assert "response.reasoning_text.done" in [event.type for event in events]

    answered = client.responses.create(model=MODEL, input=QUESTION, max_output_tokens=30, reasoning={"effort": "none"})
    assert [item.type for item in answered.output] == ["message"]
    assert "4" in answered.output_text
    assert answered.usage is not None
    assert answered.usage.output_tokens_details.reasoning_tokens == 0


@pytest.mark.parametrize(
    "turn_off",
    [{"reasoning_effort": "none"}, {"chat_template_kwargs": {"enable_thinking": False}}],
    ids=["reasoning_effort", "chat_template_kwargs"],
)
def test_chat_answers_without_thinking_when_asked(client: openai.OpenAI, turn_off: dict[str, object]) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
    answered = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=30, extra_body=turn_off)
    message = answered.model_dump()["choices"][0]["message"]
    assert "4" in message["content"]
    assert not message.get("reasoning_content")
    assert answered.usage is not None
    assert answered.usage.completion_tokens_details is not None
    assert answered.usage.completion_tokens_details.reasoning_tokens == 0
