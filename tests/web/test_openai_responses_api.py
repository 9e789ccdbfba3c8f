"""OpenAI's Responses API with the official openai package: whole and streamed responses agree, the
stream's events are named, typed and numbered without gaps, and limits, formats and refusals come out
as OpenAI's clients expect."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from .conftest import RunningServer, openai_client

MODEL = "agent-1"
QUESTION = "What is the capital of France?"


@pytest.fixture
def client(server: RunningServer) -> openai.OpenAI:
    return openai_client(server.inference_url)


def test_a_whole_response(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL, input=QUESTION, instructions="Answer in one sentence.", max_output_tokens=30
    )
    assert response.status == "completed"
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.instructions == "Answer in one sentence."
    assert "Paris" in response.output_text
    (message,) = response.output
    assert message.type == "message"
    assert message.status == "completed"
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.usage.output_tokens > 0


def test_streamed_events_are_numbered_and_rebuild_the_whole_response(client: openai.OpenAI) -> None:
    # Compared with the response the stream itself ends with: a separate greedy request may differ by a
    # near-tie (its prompt reused a cached prefix, or shared a batch), which is not what is tested here.
    events = list(client.responses.create(model=MODEL, input=QUESTION, max_output_tokens=30, stream=True))
    assert [event.sequence_number for event in events] == list(range(len(events)))
    types = [event.type for event in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    final = events[-1]
    assert final.type in ("response.completed", "response.incomplete")
    assert types[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert final.response.status == final.type.removeprefix("response.")
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas
    assert deltas == final.response.output_text
    assert final.response.usage is not None
    assert final.response.usage.output_tokens <= 30


def test_a_response_cut_by_max_output_tokens_is_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Write a long story about a dragon.", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None
    assert response.usage.output_tokens == 3


def test_a_json_schema_text_format(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "country": {"type": "string", "maxLength": 20}},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model=MODEL,
        input=QUESTION,
        max_output_tokens=60,
        text={"format": {"type": "json_schema", "name": "place", "schema": schema}},
    )
    jsonschema.validate(json.loads(response.output_text), schema)


def test_history_items_and_refusals(client: openai.OpenAI, server: RunningServer) -> None:
    def input_tokens(*earlier: Any) -> int:
        items: Any = [
            {"role": "user", "content": [{"type": "input_text", "text": "My name is Ada."}]},
            *earlier,
            {"role": "user", "content": "What is my name?"},
        ]
        response = client.responses.create(model=MODEL, input=items, max_output_tokens=1)
        assert response.usage is not None
        return response.usage.input_tokens

    alone = input_tokens()
    answered = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello Ada!"}]}
    # The assistant's output_text is kept (Paddler drops it); a reasoning item adds nothing to the prompt.
    assert input_tokens(answered) > alone + 4
    assert input_tokens(answered, {"type": "reasoning", "id": "rs_1", "summary": []}) == input_tokens(answered)
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        client.responses.create(model=MODEL, input="Hi", previous_response_id="resp_123")
    image: Any = [{"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}]
    with pytest.raises(openai.BadRequestError, match="input_image"):
        client.responses.create(model=MODEL, input=image)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-4o", input="Hi")
    broken = httpx.post(server.inference_url + "/v1/responses", json={"model": MODEL, "input": [{"role": "robot"}]})
    assert broken.status_code == 400
    assert broken.json()["error"]["param"] == "input[0]"
