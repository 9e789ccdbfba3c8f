"""Production mode: the shipped gunicorn configuration serves both services from one worker."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import openai_client
from .gunicorn_server import Gunicorn, gunicorn


def _gunicorn(model_path: Path) -> AbstractContextManager[Gunicorn]:
    return gunicorn(f"--model {model_path} --threads 2 --context-size 4096 --slots 2 --temperature 0 --name g1")


@pytest.fixture(scope="module")
def gunicorn_urls(default_model_path: Path) -> Iterator[tuple[str, str, str]]:
    with _gunicorn(default_model_path) as served:
        yield served.urls


def test_gunicorn_streams_tokens(gunicorn_urls: tuple[str, str, str]) -> None:
    inference, management, _ = gunicorn_urls
    response = httpx.post(
        inference + "/api/v1/continue_from_raw_prompt",
        json={"raw_prompt": "The capital of France is", "max_tokens": 6},
        timeout=60,
    )
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 7
    assert "Done" in lines[-1]["Response"]["response"]["GeneratedToken"]
    assert httpx.get(management + "/api/v1/agents").json()["agents"][0]["name"] == "g1"
    assert httpx.get(inference + "/api/v1/agents").status_code == 404, "management routes stay off the inference port"


def test_gunicorn_management_refuses_a_foreign_host_without_a_key(gunicorn_urls: tuple[str, str, str]) -> None:
    _, management, _ = gunicorn_urls
    assert httpx.get(management + "/api/v1/agents", headers={"Host": "rebound.example"}).status_code == 421
    assert httpx.get(management + "/api/v1/agents").status_code == 200


def test_gunicorn_serves_a_websocket_conversation(gunicorn_urls: tuple[str, str, str]) -> None:
    inference, _, _ = gunicorn_urls
    request = {
        "Request": {
            "id": "chat-1",
            "request": {
                "ContinueFromConversationHistory": {
                    "add_generation_prompt": True,
                    "enable_thinking": False,
                    "max_tokens": 24,
                    "conversation_history": [{"role": "user", "content": "What is the capital of France?"}],
                }
            },
        }
    }
    with connect(inference.replace("http", "ws") + "/api/v1/inference_socket") as ws:
        ws.send(json.dumps(request))
        text = ""
        while True:
            response = json.loads(ws.recv(timeout=30))["Response"]
            token = response["response"]["GeneratedToken"]
            if "Done" in token:
                break
            text += token["UndeterminableToken"]
    assert "Paris" in text


def test_gunicorn_serves_the_openai_api_on_its_own_address(gunicorn_urls: tuple[str, str, str]) -> None:
    _, _, compat = gunicorn_urls
    client = openai_client(compat)
    completion = client.chat.completions.create(
        model="g1",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        max_tokens=12,
    )
    assert "Paris" in (completion.choices[0].message.content or "")
    assert httpx.post(compat + "/api/v1/continue_from_raw_prompt", json={}).status_code == 404
    assert httpx.get(compat + "/api/v1/agents").status_code == 404


def test_sigterm_drains_and_closes_open_sockets_with_1001(default_model_path: Path) -> None:
    """A server of its own, with one open socket and nothing else: it hears 1001 as soon as the engine
    has drained, not when gunicorn's 40 s graceful timeout kills the worker, and the worker exits."""
    with _gunicorn(default_model_path) as served:
        with connect(served.urls[0].replace("http", "ws") + "/api/v1/inference_socket") as ws:
            signalled = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=20)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert served.process.wait(timeout=20) == 0
        assert time.monotonic() - signalled < 10
