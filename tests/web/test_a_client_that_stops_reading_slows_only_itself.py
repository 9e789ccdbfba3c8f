"""A client that stops reading holds back nobody else: a WebSocket that does not read is dropped after
the send timeout (its requests end, other sockets never stall), and an embedding batch is produced only
as fast as its reader takes it."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from urllib.parse import urlparse

import httpx
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import RunningServer, ServerFactory, wait_for

SMALL_BUFFER = 4096
DROPPED_WITHIN = 10.0
# Longer than one batch of embeddings takes on a busy CPU.
STEADY_SECONDS = 5.0


def _raw_connection(url: str) -> socket.socket:
    """A TCP connection with a small receive buffer, so a client that does not read fills up soon."""
    address = urlparse(url)
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    connection.connect((address.hostname or "127.0.0.1", address.port or 80))
    return connection


def _read_head(connection: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(1)
        assert chunk, "the server closed before answering"
        head += chunk
    return head


def _open_raw_websocket(server: RunningServer) -> socket.socket:
    connection = _raw_connection(server.inference_url)
    key = base64.b64encode(os.urandom(16)).decode()
    connection.sendall(
        (
            "GET /api/v1/inference_socket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in _read_head(connection)
    return connection


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
    return header + mask + masked


def _receive_before(connection: socket.socket, deadline: float) -> bytes:
    connection.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return connection.recv(1 << 20)
    except TimeoutError:
        raise AssertionError("the server did not drop a client that stopped reading") from None


def _third_socket_opens(server: RunningServer) -> bool:
    """Whether a WebSocket opens beside two others, where at most two may be open."""
    try:
        with connect(server.socket_url, open_timeout=5):
            return True
    except InvalidStatus as refusal:
        if refusal.response.status_code != 503:
            raise
        return False


def _generation(request_id: str, max_tokens: int = 200) -> str:
    prompt = "Count from one to ten thousand: one, two, three, four, five,"
    return json.dumps(
        {
            "Request": {
                "id": request_id,
                "request": {"ContinueFromRawPrompt": {"raw_prompt": prompt, "max_tokens": max_tokens}},
            }
        }
    )


def test_a_websocket_client_that_stops_reading_is_dropped_and_stalls_nothing_else(
    server_factory: ServerFactory,
) -> None:
    """Its request ids are 300 kB long, so every token frame is too: the kernel's buffers fill within a
    few frames, and the next frame cannot be written."""
    server = server_factory(
        "--slots", "4", "--temperature", "0", "--websocket-send-timeout", "1", "--max-websockets", "2"
    )
    stalled = _open_raw_websocket(server)
    for label in "abc":
        stalled.sendall(_masked_text_frame(_generation(label * 300_000)))
    sent = time.monotonic()
    assert wait_for(lambda: server.slots_processing() > 0, timeout=10)
    # Meanwhile another client on another socket is served in full.
    with connect(server.socket_url) as other:
        other.send(_generation("other", max_tokens=20))
        while "Done" not in (line := other.recv(timeout=30)):
            assert "GeneratedToken" in line
        # The stalled socket is dropped once a frame waited a second (not when pings go unanswered,
        # 15 s on), and gives its place back. It is not read before: a client that reads again lets
        # the server write again, and is rightly not dropped.
        assert wait_for(
            lambda: _third_socket_opens(server), timeout=max(0.0, sent + DROPPED_WITHIN - time.monotonic())
        ), "the server did not drop a client that stopped reading"
    # The client reads what the kernel held, then the end; its requests were cancelled with it.
    while _receive_before(stalled, time.monotonic() + DROPPED_WITHIN):
        pass
    stalled.close()
    assert wait_for(lambda: server.slots_processing() == 0, timeout=10)
    assert httpx.get(server.inference_url + "/health").status_code == 200


def _embedded_documents(server: RunningServer) -> int:
    for line in httpx.get(server.management_url + "/metrics").text.splitlines():
        if line.startswith(("paddler_embedded_documents ", "paddler_embedded_documents_total ")):
            return int(float(line.split()[1]))
    raise AssertionError("no paddler_embedded_documents in /metrics")


def _embedded_documents_once_steady(server: RunningServer) -> int:
    count, steady_since = _embedded_documents(server), time.monotonic()
    deadline = steady_since + 60
    while time.monotonic() - steady_since < STEADY_SECONDS and time.monotonic() < deadline:
        time.sleep(0.25)
        now = _embedded_documents(server)
        if now != count:
            count, steady_since = now, time.monotonic()
    return count


def test_an_embedding_batch_waits_for_a_slow_reader(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "2", "--enable-embeddings")
    documents = 800
    body = json.dumps(
        {
            "input_batch": [{"id": str(index), "content": "cats"} for index in range(documents)],
            "normalization_method": "None",
        }
    ).encode()
    reader = _raw_connection(server.inference_url)
    reader.sendall(
        b"POST /api/v1/generate_embedding_batch HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    assert b" 200 " in _read_head(reader)
    # The reader pauses until the engine stops embedding; unbounded, it would embed the whole batch.
    held = _embedded_documents_once_steady(server)
    assert held < documents / 2, f"{held} of {documents} documents embedded for a reader that read none"
    # Reading again resumes it; leaving cancels the rest.
    reader.settimeout(30)
    received = 0
    while received < 4 << 20:
        chunk = reader.recv(1 << 16)
        assert chunk
        received += len(chunk)
    assert wait_for(lambda: _embedded_documents(server) > held)
    reader.close()
    assert wait_for(lambda: server.slots_processing() == 0)
    assert _embedded_documents(server) < documents
