"""A WebSocket request id is the client's label within its connection, never the engine's key.

Two sockets may use the same id at once: each request keeps its own slot, closing one socket cancels
only that socket's request, and the server keeps serving every slot afterwards.
"""

from __future__ import annotations

import contextlib
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from .conftest import RunningServer, ServerFactory, wait_for

SLOTS = 4
RAW_PROMPT = "/api/v1/continue_from_raw_prompt"
# Generation that cannot end by itself before max_tokens.
ENDLESS = {"type": "gbnf", "grammar": 'root ::= "ab " root', "root": "root"}


def _request(request_id: str, body: dict[str, Any]) -> str:
    return json.dumps({"Request": {"id": request_id, "request": {"ContinueFromRawPrompt": body}}})


def _generated(message: dict[str, Any]) -> dict[str, Any]:
    assert "Response" in message, message
    generated: dict[str, Any] = message["Response"]["response"]["GeneratedToken"]
    return generated


def _read_to_the_end(ws: Connection, request_id: str, first: dict[str, Any]) -> list[str]:
    """The tokens of `request_id`, from its first line (already read) to its Done; any other line
    fails the test."""
    tokens: list[str] = []
    message = first
    while True:
        assert message.get("Response", {}).get("request_id") == request_id, message
        generated = _generated(message)
        if "Done" in generated:
            return tokens
        (text,) = generated.values()
        assert isinstance(text, str), message
        tokens.append(text)
        message = json.loads(ws.recv(timeout=60))


def _open(server: RunningServer) -> ClientConnection:
    # An unbounded receive queue: lines pile up while the test reads elsewhere, and pings still get
    # their pongs.
    return connect(server.socket_url, max_queue=None)


def _start(ws: Connection, body: dict[str, Any]) -> dict[str, Any]:
    """Send request "1" and return its first line: the request is running."""
    ws.send(_request("1", body))
    first: dict[str, Any] = json.loads(ws.recv(timeout=60))
    return first


def _nothing_more(ws: Connection) -> list[Any]:
    late = []
    try:
        while True:
            late.append(json.loads(ws.recv(timeout=0.5)))
    except TimeoutError:
        pass
    return late


def _every_slot_serves(server: RunningServer) -> None:
    """2 x slots requests at once: each gets its tokens and Done, and the engine stays ready."""

    def one(index: int) -> list[dict[str, Any]]:
        body = {"raw_prompt": f"Request {index}:", "max_tokens": 4}
        try:
            response = httpx.post(server.inference_url + RAW_PROMPT, json=body, timeout=60)
        except httpx.ReadTimeout:
            pytest.fail(f"no answer within 60 s; /ready: {httpx.get(server.inference_url + '/ready').text}")
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines() if line]

    with ThreadPoolExecutor(2 * SLOTS) as pool:
        answers = list(pool.map(one, range(2 * SLOTS)))
    for lines in answers:
        assert "Done" in _generated(lines[-1]), lines
    assert httpx.get(server.inference_url + "/ready").status_code == 200


def _all_slots_free(server: RunningServer) -> bool:
    return wait_for(lambda: server.slots_processing() == 0 and server.buffered() == 0, timeout=5.0)


def test_two_sockets_sending_the_same_id_then_a_full_load_leave_the_engine_serving(
    server_factory: ServerFactory,
) -> None:
    server = server_factory("--slots", str(SLOTS), "--temperature", "0", "--buffered-request-timeout", "600000")
    with _open(server) as first, _open(server) as second:
        first_lines = [_start(ws, {"raw_prompt": "hi", "max_tokens": 300}) for ws in (first, second)]
        _every_slot_serves(server)
        for ws, first_line in zip((first, second), first_lines, strict=True):
            assert _read_to_the_end(ws, "1", first_line)
            assert _nothing_more(ws) == []
    assert _all_slots_free(server)


@pytest.mark.parametrize("abrupt", [False, True], ids=["close frame", "no close frame"])
def test_closing_one_socket_leaves_the_same_id_on_another_socket_running(
    server_factory: ServerFactory, abrupt: bool
) -> None:
    server = server_factory("--slots", str(SLOTS), "--temperature", "0", "--buffered-request-timeout", "600000")
    max_tokens = 64
    body = {"raw_prompt": "Repeat ab:", "max_tokens": max_tokens, "grammar": ENDLESS}
    with _open(server) as leaving, _open(server) as staying:
        _start(leaving, body)
        first_line = _start(staying, body)
        if abrupt:
            leaving.socket.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(ConnectionClosed):
            leaving.close()
        tokens = _read_to_the_end(staying, "1", first_line)
        assert len(tokens) == max_tokens, f"the request ended after {len(tokens)} of {max_tokens} tokens"
        assert ("ab " * max_tokens).startswith("".join(tokens))
    _every_slot_serves(server)
    assert _all_slots_free(server)
