"""The balancer's HAProxy with its stream relay, in front of a fake agent that can die mid-answer (fault
injection: a real agent cannot be made to die at a chosen byte). A stream the agent cuts ends with a last
line in its own format; answers far larger than HAProxy's buffers, sent at once or with long silences,
arrive whole (HAProxy's Lua sockets lose a wake-up without the relay's timer: docs/fleet.md); a client
that goes away closes the agent's connection; a request body larger than a buffer reaches the agent whole."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paddler.startup.haproxy_config import CUT_DESCRIPTION, HaproxySettings
from paddler.startup.haproxy_process import HaproxyProcess
from paddler.web.balancer.haproxy_runtime import HaproxyRuntime
from tests.web.conftest import free_port, wait_for

from .conftest import haproxy_runs_the_relay

PADDLER_LINE = '{"Response":{"request_id":"req-7","response":{"Token":"%d"}}}\n'
CHAT_EVENT = 'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"delta":{"content":"%d"}}]}\n\n'
RESPONSES_EVENT = (
    'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":%d}\n\n'
)


class FakeAgent(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Set when a write to a client that went away failed.
    abandoned = threading.Event()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _start(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _die(self) -> None:
        """End the connection mid-body, as a killed process does."""
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _stream_then_die(self, content_type: str, pieces: list[str]) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._start(content_type)
        for piece in pieces:
            self._chunk(piece.encode())
        self._die()

    def do_POST(self) -> None:
        if self.path == "/api/v1/continue_from_conversation_history":
            self._stream_then_die("application/json", [PADDLER_LINE % n for n in range(3)])
        elif self.path == "/v1/chat/completions":
            # The last event is cut in two: the error must still stand on its own.
            self._stream_then_die("text/event-stream", [CHAT_EVENT % n for n in range(3)] + ['data: {"id"'])
        elif self.path == "/v1/responses":
            self._stream_then_die("text/event-stream", [RESPONSES_EVENT % n for n in range(5)])
        elif self.path == "/api/v1/scripted":
            self._scripted(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        elif self.path == "/echo":
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = json.dumps({"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    def _scripted(self, script: dict[str, Any]) -> None:
        """Write `body` in writes of the given sizes, pausing where asked; then end it, or die after
        `cut_at` bytes."""
        body: bytes = script["body"].encode()
        end = len(body) if script["cut_at"] is None else script["cut_at"]
        self._start("application/json")
        sent = 0
        for size, pause in script["writes"]:
            piece = body[sent : min(sent + size, end)]
            if piece:
                self._chunk(piece)
                sent += len(piece)
            if pause:
                time.sleep(pause)
        if sent < end:
            self._chunk(body[sent:end])
        if script["cut_at"] is None:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._die()

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        if url.path == "/ready":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/bulk":
            self._start("application/json")
            line = b"x" * (int(query["size"]) - 1) + b"\n"
            for _ in range(int(query["count"])):
                self._chunk(line)
            self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/slow":
            self._start("application/json")
            for n in range(3):
                time.sleep(float(query["gap"]))
                self._chunk(b"%d\n" % n)
            self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/endless":
            self._start("application/json")
            try:
                while True:
                    self._chunk(b"token\n")
                    time.sleep(0.05)
            except OSError:
                FakeAgent.abandoned.set()


@dataclass
class Relayed:
    url: str
    runtime: HaproxyRuntime

    def ready(self) -> None:
        """The fake agent up in HAProxy's eyes (a cut answer may have marked it down until its next check)."""
        assert wait_for(lambda: self.runtime.stats().servers["fake"].status == "UP", timeout=5)


@pytest.fixture(scope="module")
def relayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relayed]:
    assert haproxy_runs_the_relay()
    agent = ThreadingHTTPServer(("127.0.0.1", 0), FakeAgent)
    threading.Thread(target=agent.serve_forever, daemon=True).start()
    port = free_port()
    settings = HaproxySettings("127.0.0.1", port, 8, 10000, Path(tmp_path_factory.mktemp("relay")))
    haproxy = HaproxyProcess(settings, on_restart=lambda: None)
    haproxy.start()
    runtime = HaproxyRuntime(settings.admin_socket)
    runtime.add_server("fake", "127.0.0.1", agent.server_address[1], maxconn=8, check_interval_ms=200)
    runtime.set_state("fake", "ready")
    try:
        yield Relayed(f"http://127.0.0.1:{port}", runtime)
    finally:
        haproxy.stop()
        agent.shutdown()


def _lines(relayed: Relayed, path: str) -> list[str]:
    relayed.ready()
    with httpx.stream("POST", relayed.url + path, json={"stream": True}, timeout=10) as response:
        assert response.status_code == 200
        return list(response.iter_lines())


def test_a_paddler_stream_cut_short_ends_with_paddlers_error_line_for_its_request(relayed: Relayed) -> None:
    lines = _lines(relayed, "/api/v1/continue_from_conversation_history")
    assert lines[:3] == [(PADDLER_LINE % n).strip() for n in range(3)]
    last = json.loads(lines[3])
    assert last == {"Error": {"request_id": "req-7", "error": {"code": 502, "description": CUT_DESCRIPTION}}}
    assert lines[4:] == []


def test_a_chat_stream_cut_mid_event_ends_with_an_error_event_and_done(relayed: Relayed) -> None:
    events = [line for line in _lines(relayed, "/v1/chat/completions") if line]
    assert events[3] == 'data: {"id"'
    error = json.loads(events[4].removeprefix("data: "))
    assert error["error"]["message"] == CUT_DESCRIPTION
    assert error["error"]["type"] == "server_error"
    assert events[5:] == ["data: [DONE]"]


def test_a_responses_stream_cut_short_ends_with_the_next_numbered_error_event(relayed: Relayed) -> None:
    events = [line for line in _lines(relayed, "/v1/responses") if line]
    assert events[-2] == "event: error"
    error = json.loads(events[-1].removeprefix("data: "))
    assert (error["type"], error["message"], error["sequence_number"]) == ("error", CUT_DESCRIPTION, 5)


@pytest.mark.parametrize(("size", "count"), [(100_000, 30), (11_000, 300), (300, 3000)])
def test_an_answer_far_larger_than_haproxys_buffer_arrives_whole(relayed: Relayed, size: int, count: int) -> None:
    relayed.ready()
    started = time.monotonic()
    response = httpx.get(f"{relayed.url}/bulk", params={"size": size, "count": count}, timeout=30)
    assert response.status_code == 200
    assert len(response.content) == size * count
    assert time.monotonic() - started < 10


def test_a_request_body_larger_than_haproxys_buffer_reaches_the_agent_whole(relayed: Relayed) -> None:
    relayed.ready()
    body = bytes(range(256)) * 2000  # 512 KB, four of HAProxy's buffers
    answer = httpx.post(f"{relayed.url}/echo", content=body, timeout=30).json()
    assert answer == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_a_stream_silent_for_seconds_is_not_cut(relayed: Relayed) -> None:
    relayed.ready()
    response = httpx.get(f"{relayed.url}/slow", params={"gap": 1.5}, timeout=30)
    assert response.content == b"0\n1\n2\n"


def test_a_client_that_goes_away_closes_the_agents_connection(relayed: Relayed) -> None:
    relayed.ready()
    FakeAgent.abandoned.clear()
    host, port = relayed.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as client:
        client.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"token" in client.recv(4096)
    assert FakeAgent.abandoned.wait(timeout=5), "the agent kept writing to a client that had gone"


_LINES = st.lists(st.integers(min_value=0, max_value=40_000), min_size=1, max_size=12)
_WRITES = st.lists(
    st.tuples(
        st.one_of(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=70_000)),
        st.sampled_from([0.0, 0.0, 0.0, 0.002, 0.05]),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=_LINES, writes=_WRITES, cut=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)))
def test_any_stream_arrives_byte_for_byte_and_a_cut_one_ends_with_one_error_line(
    relayed: Relayed, sizes: list[int], writes: list[tuple[int, float]], cut: float | None
) -> None:
    """Lines of any length written in any pieces at any pace come through unchanged; cut anywhere (in a
    line, between lines, before the first), the stream gets exactly one error line more, which names the
    stream's request id once it was sent."""
    # The id stands in the first line only: the relay must find it even when a write splits it.
    body = '{"request_id":"scripted"}\n' + "".join('{"pad":"%s"}\n' % ("x" * size) for size in sizes)
    cut_at = None if cut is None else int(cut * (len(body) - 1))
    relayed.ready()
    script = {"body": body, "writes": writes, "cut_at": cut_at}
    received = httpx.post(f"{relayed.url}/api/v1/scripted", json=script, timeout=30).text
    if cut_at is None:
        assert received == body
        return
    sent = body[:cut_at]
    assert received.startswith(sent)
    rest = received[len(sent) :]
    if sent and not sent.endswith("\n"):
        assert rest.startswith("\n")
        rest = rest[1:]
    request_id = "scripted" if '"request_id":"scripted"' in sent else None
    error = json.loads(rest)["Error"]
    assert rest.count("\n") == 1
    assert rest.endswith("\n")
    assert error["error"] == {"code": 502, "description": CUT_DESCRIPTION}
    if request_id:
        assert error["request_id"] == request_id
