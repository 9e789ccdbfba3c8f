"""A tool's JSON Schema comes from the client, yet the server checks the model's calls against it on the
engine thread. A `$ref` to a URL or to nothing is refused when the request arrives (a 400 naming the
tool, on every transport), nothing is ever fetched, and a backtracking `pattern` runs on RE2, so a call
that fails it neither stalls the engine nor freezes the server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from websockets.sync.client import connect

from paddler.llama import LlamaModel

from .conftest import RunningServer, openai_client, start_server, stop_server

TEMPLATE = Path(__file__).parent / "templates" / "qwen3_style_tools.jinja"
CONVERSATION = "/api/v1/continue_from_conversation_history"
CATASTROPHIC = "^(a|a)*$"
SHORT = {"raw_prompt": "Hi", "max_tokens": 2}


@pytest.fixture(scope="module")
def tool_server(default_model_path: Path) -> Iterator[RunningServer]:
    running = start_server(default_model_path, "--slots", "2", "--chat-template-file", str(TEMPLATE))
    yield running
    stop_server(running)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that would see any attempt to fetch a `$ref`."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        listening.setblocking(False)
        yield listening
        with pytest.raises(BlockingIOError):
            listening.accept()


def _parameters(text_schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"text": text_schema}, "required": ["text"]}


def _paddler_body(parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    tool = {"type": "function", "function": {"name": "echo", "description": "Echo a text", "parameters": parameters}}
    return {
        "add_generation_prompt": True,
        "enable_thinking": False,
        "max_tokens": 4,
        "conversation_history": [{"role": "user", "content": "Echo aaa"}],
        "tools": [tool],
        "parse_tool_calls": True,
        **extra,
    }


def _unsafe_cases(port: int) -> list[tuple[dict[str, Any], str]]:
    return [
        (_parameters({"$ref": f"http://127.0.0.1:{port}/text.json"}), "does not point into the schema itself"),
        (_parameters({"$ref": "#/$defs/missing"}), "points to nothing in the schema"),
        (_parameters({"type": "string", "pattern": "(?=a)a"}), "is not supported"),
    ]


def test_unsafe_schemas_are_400_naming_the_tool_over_http(tool_server: RunningServer, listener: socket.socket) -> None:
    for parameters, reason in _unsafe_cases(listener.getsockname()[1]):
        response = httpx.post(tool_server.inference_url + CONVERSATION, json=_paddler_body(parameters), timeout=30)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text.startswith('Invalid request parameters: tool "echo" parameters cannot be checked safely')
        assert reason in response.text


def test_unsafe_schemas_are_400_naming_the_tool_over_the_websocket(
    tool_server: RunningServer, listener: socket.socket
) -> None:
    with connect(tool_server.socket_url) as ws:
        for index, (parameters, reason) in enumerate(_unsafe_cases(listener.getsockname()[1])):
            request = {"ContinueFromConversationHistory": _paddler_body(parameters)}
            ws.send(json.dumps({"Request": {"id": f"r{index}", "request": request}}))
            error = json.loads(ws.recv(timeout=30))["Error"]
            assert (error["request_id"], error["error"]["code"]) == (f"r{index}", 400)
            assert 'tool "echo" parameters cannot be checked safely' in error["error"]["description"]
            assert reason in error["error"]["description"]
        ws.send(json.dumps({"Request": {"id": "after", "request": {"ContinueFromRawPrompt": SHORT}}}))
        while "Done" not in json.dumps(json.loads(ws.recv(timeout=30))):
            pass


def test_unsafe_schemas_are_openai_400s_on_chat_and_responses(
    tool_server: RunningServer, listener: socket.socket
) -> None:
    client = openai_client(tool_server.inference_url)
    for parameters, reason in _unsafe_cases(listener.getsockname()[1]):
        with pytest.raises(openai.BadRequestError) as chat:
            client.chat.completions.create(
                model="agent-1",
                messages=[{"role": "user", "content": "Echo aaa"}],
                tools=[{"type": "function", "function": {"name": "echo", "parameters": parameters}}],
                max_tokens=4,
            )
        with pytest.raises(openai.BadRequestError) as responses:
            client.responses.create(
                model="agent-1",
                input="Echo aaa",
                tools=[{"type": "function", "name": "echo", "parameters": parameters, "strict": False}],
                max_output_tokens=16,
            )
        for refused in (chat.value, responses.value):
            assert isinstance(refused.body, dict)
            assert refused.body["type"] == "invalid_request_error"
            assert refused.body["param"] == "tools[0]"
            assert refused.body["message"].startswith('tool "echo" parameters cannot be checked safely')
            assert reason in refused.body["message"]


def _token_literal(model: LlamaModel, text: str) -> str:
    """GBNF matching exactly the marker's token ids, so the classifier sees a tool-call block."""
    return " ".join(f"<[{token}]>" for token in model.vocab.tokenize(text, add_special=False, parse_special=True))


def test_a_call_failing_a_backtracking_pattern_keeps_the_server_responsive(
    tool_server: RunningServer, smollm: LlamaModel
) -> None:
    argument = "a" * 64 + "!"  # Python's `re` would take about 2**64 steps to refuse it
    call = json.dumps({"name": "echo", "arguments": {"text": argument}})
    grammar = " ".join(
        ["root ::=", _token_literal(smollm, "<tool_call>"), json.dumps(call), _token_literal(smollm, "</tool_call>")]
    )
    body = _paddler_body(
        _parameters({"type": "string", "pattern": CATASTROPHIC}),
        max_tokens=200,
        grammar={"type": "gbnf", "grammar": grammar, "root": "root"},
    )
    lines: list[dict[str, Any]] = []

    def generate() -> None:
        response = httpx.post(tool_server.inference_url + CONVERSATION, json=body, timeout=60)
        lines.extend(json.loads(line) for line in response.text.splitlines())

    generating = threading.Thread(target=generate, daemon=True)
    generating.start()
    while generating.is_alive():
        started = time.monotonic()
        assert httpx.get(tool_server.inference_url + "/health", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0
        time.sleep(0.05)
    generating.join()
    events = [line["Response"]["response"]["GeneratedToken"] for line in lines]
    (failed,) = [event["ToolCallValidationFailed"] for event in events if "ToolCallValidationFailed" in event]
    assert failed == [f'arguments for tool "echo" failed schema check: {argument!r} does not match {CATASTROPHIC!r}']
    assert "Done" in events[-1]
    after = httpx.post(tool_server.inference_url + "/api/v1/continue_from_raw_prompt", json=SHORT)
    assert "Done" in after.text
