"""JSON nested past 128 levels (Paddler's limit, serde_json's) is refused with a 400 on every route and
on the WebSocket before any recursive code (jsonschema, json.dumps, templates, llama.cpp's converter)
sees it, and the server answers normally afterwards. A JSON-schema grammar, which Paddler carries as a
string, nested that deep is a schema that cannot be converted: GrammarSyntaxError, as Paddler says."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from .conftest import RunningServer

DEEP = "__deep__"
CHAT = [{"role": "user", "content": "Hi"}]
SHORT = {"raw_prompt": "Hi", "max_tokens": 2}
CONVERSATION = {"add_generation_prompt": True, "enable_thinking": False, "max_tokens": 2, "conversation_history": CHAT}
TOOL = {
    "type": "function",
    "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"x": DEEP}}},
}
# (service, method, path, body with DEEP where the nesting goes)
ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("inference", "POST", "/api/v1/continue_from_conversation_history", {**CONVERSATION, "tools": [TOOL]}),
    ("inference", "POST", "/api/v1/continue_from_raw_prompt", {"raw_prompt": "Hi", "max_tokens": DEEP}),
    ("inference", "POST", "/api/v1/generate_embedding_batch", {"input_batch": DEEP, "normalization_method": "L2"}),
    (
        "inference",
        "POST",
        "/v1/chat/completions",
        {
            "model": "agent-1",
            "messages": CHAT,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": DEEP}}],
        },
    ),
    ("inference", "POST", "/v1/completions", {"model": "agent-1", "prompt": "Hi", "max_tokens": 2, "user_data": DEEP}),
    ("inference", "POST", "/v1/embeddings", {"model": "agent-1", "input": "Hi", "user_data": DEEP}),
    (
        "inference",
        "POST",
        "/v1/responses",
        {"model": "agent-1", "input": "Hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": DEEP}}},
    ),
    ("management", "PUT", "/api/v1/balancer_desired_state", {"chat_template_override": DEEP}),
]


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _body(template: dict[str, Any], depth: int) -> str:
    return json.dumps(template).replace(json.dumps(DEEP), _nested(depth))


def _server_still_answers(server: RunningServer) -> None:
    assert httpx.get(server.inference_url + "/health").status_code == 200
    tokens = httpx.post(server.inference_url + "/api/v1/continue_from_raw_prompt", json=SHORT)
    assert '"Done"' in tokens.text


@pytest.mark.parametrize("depth", [150, 10_000])
@pytest.mark.parametrize("route", ROUTES, ids=[route[2] for route in ROUTES])
def test_a_deep_body_is_400(server: RunningServer, route: tuple[str, str, str, dict[str, Any]], depth: int) -> None:
    service, method, path, template = route
    base = server.inference_url if service == "inference" else server.management_url
    response = httpx.request(
        method, base + path, content=_body(template, depth), headers={"content-type": "application/json"}, timeout=60
    )
    assert response.status_code == 400, response.text
    if path.startswith("/v1/"):
        assert response.json()["error"]["message"] == "the JSON nests deeper than 128 levels"
    else:
        assert response.text == "Json deserialize error: the JSON nests deeper than 128 levels"
    _server_still_answers(server)


@pytest.mark.parametrize("depth", [150, 600, 10_000])
def test_a_deep_frame_is_400_and_the_socket_keeps_working(server: RunningServer, depth: int) -> None:
    request = {"ContinueFromConversationHistory": {**CONVERSATION, "tools": [TOOL]}}
    with connect(server.socket_url, max_size=None) as ws:
        ws.send(_body({"Request": {"id": "deep", "request": request}}, depth))
        error = json.loads(ws.recv(timeout=30))["Error"]
        assert error["error"] == {"code": 400, "description": "invalid JSON: the JSON nests deeper than 128 levels"}
        ws.send(json.dumps({"Request": {"id": "after", "request": {"ContinueFromRawPrompt": SHORT}}}))
        while "Done" not in (frame := ws.recv(timeout=30)):
            assert '"after"' in frame
    _server_still_answers(server)


@pytest.mark.parametrize("transport", ["http", "websocket"])
def test_a_deep_json_schema_grammar_is_a_grammar_syntax_error(server: RunningServer, transport: str) -> None:
    grammar = {"type": "json_schema", "schema": _nested(10_000)}
    body = {"raw_prompt": "Hi", "max_tokens": 2, "grammar": grammar}
    line: str | bytes
    if transport == "http":
        response = httpx.post(server.inference_url + "/api/v1/continue_from_raw_prompt", json=body, timeout=60)
        assert response.status_code == 200, response.text
        (line,) = response.text.splitlines()
    else:
        with connect(server.socket_url, max_size=None) as ws:
            ws.send(json.dumps({"Request": {"id": "deep", "request": {"ContinueFromRawPrompt": body}}}))
            line = ws.recv(timeout=30)
    failure = json.loads(line)["Response"]["response"]["GeneratedToken"]["GrammarSyntaxError"]
    assert failure == "Failed to create grammar sampler: JSON schema nests deeper than 64 levels"
    _server_still_answers(server)
