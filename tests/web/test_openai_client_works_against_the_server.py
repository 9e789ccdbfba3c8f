"""The official openai package against the OpenAI-compatible chat API."""

from __future__ import annotations

import base64
import json

import httpx
import jsonschema
import numpy
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from .conftest import RunningServer, ServerFactory, free_port, openai_client

MODEL = "agent-1"  # the served model id is the server's --name


@pytest.fixture
def client(server: RunningServer) -> openai.OpenAI:
    return openai_client(server.inference_url)


def _question() -> list[ChatCompletionMessageParam]:
    return [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ]


def test_models_lists_and_retrieves_the_served_model(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == [MODEL]
    model = client.models.retrieve(MODEL)
    assert (model.id, model.object, model.owned_by) == (MODEL, "model", "paddler")
    with pytest.raises(openai.NotFoundError) as unknown:
        client.models.retrieve("gpt-4o")
    assert unknown.value.code == "model_not_found"


def test_non_streaming_chat(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=_question(), max_tokens=24)
    choice = completion.choices[0]
    assert "Paris" in (choice.message.content or "")
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_streaming_chat_with_usage_matches_the_non_streaming_text(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=_question(), max_tokens=16)
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=_question(),
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content
    finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert len(finish) == 1
    assert chunks[-1].usage is not None
    assert whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_max_tokens_gives_length_and_stop_strings_never_leak(client: openai.OpenAI) -> None:
    capped = client.chat.completions.create(model=MODEL, messages=_question(), max_completion_tokens=2)
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage is not None
    assert capped.usage.completion_tokens == 2
    full = client.chat.completions.create(model=MODEL, messages=_question(), max_tokens=24).choices[0].message.content
    assert full is not None
    assert " is" in full
    stopped = client.chat.completions.create(
        model=MODEL, messages=_question(), max_tokens=24, stop=[" is"], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stopped if chunk.choices)
    assert text == full[: full.index(" is")]


def test_per_request_sampling_and_ignore_eos(client: openai.OpenAI, server: RunningServer) -> None:
    story: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me a short story."}]

    def answer(temperature: float | openai.Omit = openai.omit, seed: int | openai.Omit = openai.omit) -> str | None:
        completion = client.chat.completions.create(
            model=MODEL, messages=story, max_tokens=16, temperature=temperature, seed=seed
        )
        return completion.choices[0].message.content

    greedy = answer()
    seeded = [answer(temperature=1.5, seed=seed) for seed in (7, 7, 8)]
    assert seeded[0] == seeded[1], "the same seed gives the same text"
    assert len({greedy, *seeded}) >= 3, "temperature 1.5 applied to those requests"
    # ...and to those requests only: the server's defaults stay as they were.
    assert answer() == greedy
    defaults = httpx.get(server.management_url + "/api/v1/balancer_desired_state").json()["inference_parameters"]
    assert defaults["temperature"] == 0
    forced = client.chat.completions.create(
        model=MODEL,
        messages=_question(),
        max_tokens=30,
        extra_body={"ignore_eos": True},
    )
    assert forced.usage is not None
    assert forced.usage.completion_tokens == 30


def test_errors_in_openai_shape(client: openai.OpenAI, server: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as too_many:
        client.chat.completions.create(model=MODEL, messages=_question(), n=2)
    assert "n > 1" in str(too_many.value)
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=_question())
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model=MODEL, messages=_question(), max_tokens=1_000_000)
    assert too_long.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError, match="image_url content is not supported") as image:
        client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                }
            ],
        )
    assert image.value.param == "messages[0]"
    with pytest.raises(openai.BadRequestError, match="at most 1 item"):
        client.completions.create(model=MODEL, prompt=["one prompt", "two prompts"])
    with pytest.raises(openai.BadRequestError, match="stop"):
        client.chat.completions.create(model=MODEL, messages=_question(), stop=["x" * 1001])
    response = httpx.post(
        server.inference_url + "/v1/chat/completions", content=b"{broken", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    ignored = httpx.post(
        server.inference_url + "/v1/chat/completions",
        timeout=60,
        json={
            "model": MODEL,
            "messages": _question(),
            "max_tokens": 4,
            "logit_bias": {},
            "user": "someone",
            "unknown_field": {"nested": True},
        },
    )
    assert ignored.status_code == 200, ignored.text
    assert json.loads(ignored.text)["object"] == "chat.completion"


def test_embeddings_float_and_base64_agree(client: openai.OpenAI) -> None:
    inputs = ["The cat sat on the mat.", "A completely different sentence about rockets."]
    floats = client.embeddings.create(model=MODEL, input=inputs, encoding_format="float")
    packed = client.embeddings.create(model=MODEL, input=inputs, encoding_format="base64")
    assert [item.index for item in floats.data] == [0, 1]
    for as_floats, as_base64 in zip(floats.data, packed.data, strict=True):
        assert len(as_floats.embedding) == 576
        # Asked for base64 explicitly, the client hands the string back as it came.
        decoded = numpy.frombuffer(base64.b64decode(str(as_base64.embedding)), dtype="<f4")
        assert as_floats.embedding == pytest.approx(decoded.tolist(), abs=1e-6)
        assert sum(value * value for value in as_floats.embedding) == pytest.approx(1.0, abs=1e-3)
    assert floats.usage.prompt_tokens > 10
    single = client.embeddings.create(model=MODEL, input="The cat sat on the mat.")
    assert single.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-5)


def test_text_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=5)
    assert completion.choices[0].text
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 5
    streamed = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(
            model=MODEL, prompt="The capital of France is", max_tokens=5, stream=True
        )
        if chunk.choices
    )
    assert streamed == completion.choices[0].text
    default = client.completions.create(model=MODEL, prompt="Once upon a time", extra_body={"ignore_eos": True})
    assert default.usage is not None
    assert default.usage.completion_tokens == 16, "OpenAI's default max_tokens for completions"


def test_response_format_json_schema_and_json_object(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "is_capital": {"type": "boolean"}},
        "required": ["city", "is_capital"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model=MODEL,
        messages=_question(),
        max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
    )
    jsonschema.validate(json.loads(completion.choices[0].message.content or ""), schema)
    as_object = client.chat.completions.create(
        model=MODEL, messages=_question(), max_tokens=60, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(as_object.choices[0].message.content or ""), dict)
    with pytest.raises(openai.BadRequestError, match="definitions not found") as unconvertible:
        client.chat.completions.create(
            model=MODEL,
            messages=_question(),
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"$ref": "#/definitions/a"}},
            },
        )
    assert unconvertible.value.param == "response_format"
    with pytest.raises(openai.BadRequestError, match="needs a schema"):
        client.chat.completions.create(
            model=MODEL, messages=_question(), response_format={"type": "json_schema", "json_schema": {"name": "x"}}
        )


def test_the_openai_api_may_have_its_own_address(server_factory: ServerFactory) -> None:
    port = free_port()
    served = server_factory("--slots", "1", "--openai-addr", f"127.0.0.1:{port}", "--inference-api-key", "secret")
    compat = f"http://127.0.0.1:{port}"
    client = openai_client(compat, "secret")
    assert [model.id for model in client.models.list()] == [MODEL]
    assert client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=3).choices[0].text
    with pytest.raises(openai.AuthenticationError):
        openai_client(compat, "wrong").models.list()
    native = httpx.post(compat + "/api/v1/continue_from_raw_prompt", headers={"Authorization": "Bearer secret"})
    assert native.status_code == 404, "Paddler's own API stays on the inference address"
    assert httpx.get(served.inference_url + "/v1/models", headers={"Authorization": "Bearer secret"}).status_code == 200
