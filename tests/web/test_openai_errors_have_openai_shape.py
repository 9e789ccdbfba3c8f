"""Every error on the OpenAI routes comes in OpenAI's JSON shape with the status the openai package
expects: unknown routes and methods, oversized bodies, a full buffer (429, which clients retry after a
pause), a slot wait that timed out (503), and failures after a stream has started (in-band). A stream
whose client goes away frees its slot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from .conftest import RunningServer, ServerFactory, openai_client, wait_for

MODEL = "agent-1"
QUESTION: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Write a long essay."}]


def _client(server: RunningServer) -> openai.OpenAI:
    return openai_client(server.inference_url)


def _error(response: httpx.Response) -> dict[str, object]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    error: dict[str, object] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_unknown_routes_methods_and_oversized_bodies(server: RunningServer) -> None:
    missing = httpx.post(server.inference_url + "/v1/nothing-here", json={})
    assert missing.status_code == 404
    assert _error(missing)["type"] == "invalid_request_error"
    wrong_method = httpx.get(server.inference_url + "/v1/chat/completions")
    assert wrong_method.status_code == 405
    _error(wrong_method)
    oversized = httpx.post(
        server.inference_url + "/v1/chat/completions",
        content=b'{"model": "' + b"x" * (3 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert oversized.status_code == 413
    _error(oversized)
    # Paddler's own routes keep their plain-text errors.
    native = httpx.get(server.inference_url + "/api/v1/nothing-here")
    assert native.status_code == 404
    assert native.headers["Content-Type"].startswith("text/plain")


def _busy_stream(server: RunningServer) -> openai.Stream[openai.types.chat.ChatCompletionChunk]:
    stream = _client(server).chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=2000, stream=True, extra_body={"ignore_eos": True}
    )
    next(iter(stream))
    return stream


def test_a_full_buffer_is_429_and_a_timed_out_wait_is_503(server_factory: ServerFactory) -> None:
    strict = server_factory("--slots", "1", "--max-buffered-requests", "0")
    busy = _busy_stream(strict)
    with pytest.raises(openai.RateLimitError) as full:
        _client(strict).chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=2)
    assert full.value.code == "buffer_full"
    busy.close()

    patient = server_factory("--slots", "1", "--buffered-request-timeout", "300")
    busy = _busy_stream(patient)
    with pytest.raises(openai.InternalServerError) as waited:
        _client(patient).chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=2)
    assert waited.value.status_code == 503
    assert waited.value.code == "buffer_timeout"
    # Once streaming has begun the status is sent, so the error comes in-band before [DONE].
    with httpx.stream(
        "POST",
        patient.inference_url + "/v1/chat/completions",
        json={"model": MODEL, "messages": QUESTION, "max_tokens": 2, "stream": True},
        timeout=30,
    ) as streamed:
        assert streamed.status_code == 200
        events = [line for line in streamed.iter_lines() if line]
    assert '"buffer_timeout"' in events[-2]
    assert events[-1] == "data: [DONE]"
    # The Responses API ends such a stream with response.failed.
    failed = list(_client(patient).responses.create(model=MODEL, input="Hi", stream=True))
    assert [event.type for event in failed] == ["response.created", "response.in_progress", "response.failed"]
    last = failed[-1]
    assert last.type == "response.failed"
    assert last.response.status == "failed"
    assert last.response.error is not None
    assert last.response.error.model_dump()["code"] == "buffer_timeout"
    busy.close()


def test_empty_prompts_are_400_and_empty_documents_embed(server: RunningServer) -> None:
    client = _client(server)
    with pytest.raises(openai.BadRequestError, match="prompt is empty"):
        client.completions.create(model=MODEL, prompt="", max_tokens=2)
    native = httpx.post(
        server.inference_url + "/api/v1/continue_from_raw_prompt", json={"raw_prompt": "", "max_tokens": 2}
    )
    assert native.status_code == 400
    assert "prompt is empty" in native.text
    (empty,) = client.embeddings.create(model=MODEL, input="").data
    assert len(empty.embedding) == 576
    assert client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=2).choices[0].text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": QUESTION, "max_tokens": 2000, "stream": True}),
        ("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 2000, "stream": True}),
        ("/v1/responses", {"input": "Write a long essay.", "max_output_tokens": 2000, "stream": True}),
    ],
)
def test_a_stream_whose_client_goes_away_frees_its_slot(server: RunningServer, path: str, body: dict[str, Any]) -> None:
    with httpx.stream(
        "POST", server.inference_url + path, json={"model": MODEL, "ignore_eos": True, **body}, timeout=30
    ) as streaming:
        lines = streaming.iter_lines()
        next(lines)
        assert wait_for(lambda: server.slots_processing() == 1)
    assert wait_for(lambda: server.slots_processing() == 0, timeout=3.0)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model": "agent-1", "prompt": "Hi", "max_tokens": 2, "max_tokens": 1000000000}', "max_tokens"),
        (b'{"model": "agent-1", "prompt": "Hi", "max_tokens": true}', "max_tokens"),
        (b'{"model": "agent-1", "prompt": "Hi", "max_tokens": "5"}', "max_tokens"),
        (b'{"model": "agent-1", "prompt": "Hi", "temperature": NaN}', "temperature"),
        (b'{"model": "agent-1", "prompt": "Hi", "max_tokens": ' + b"9" * 5000 + b"}", None),
        (b"[]", None),
        (b"[" * 100_000, None),
    ],
)
def test_repeated_keys_and_values_of_the_wrong_kind_are_400s(
    server: RunningServer, body: bytes, param: str | None
) -> None:
    response = httpx.post(
        server.inference_url + "/v1/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert _error(response)["param"] == param


def test_many_streams_some_abandoned_leave_the_server_as_it_was(server: RunningServer) -> None:
    """24 streamed chats on 4 slots, every third dropped after its first chunk: the rest finish whole,
    the slots come back, and a control request still gets the same answer."""
    question: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    client = openai_client(server.inference_url)
    control = client.chat.completions.create(model=MODEL, messages=question, max_tokens=12).choices[0].message.content

    def one(index: int) -> str | None:
        stream = client.chat.completions.create(model=MODEL, messages=question, max_tokens=12, stream=True)
        if index % 3 == 0:
            next(iter(stream))
            stream.close()
            return None
        return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    # Six at a time on four slots: two wait for a slot, each behind one short answer only, so a loaded
    # host stays within the buffer's timeout.
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(one, range(24)))
    finished = [answer for answer in answers if answer is not None]
    assert len(finished) == 16
    assert set(finished) == {control}
    assert wait_for(lambda: server.slots_processing() == 0, timeout=5.0)
    assert (
        client.chat.completions.create(model=MODEL, messages=question, max_tokens=12).choices[0].message.content
        == control
    )
