"""The development server sends each chunk of a streamed answer whole: one segment that the reader
gets in one read, not its size, its data and its line ends in separate writes (Werkzeug's own handler)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from paddler.startup.wsgi_server import make_wsgi_server

CHUNKS = [b"data: first\n\n", b"data: second, a little longer\n\n", b"data: [DONE]\n\n"]


def _paced_stream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/event-stream")])
    for chunk in CHUNKS:
        yield chunk
        time.sleep(0.1)  # the reader has read the chunk before the next one is written


def _read_until(connection: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        received += connection.recv(65536)
    return received


def test_each_chunk_arrives_whole_in_one_read() -> None:
    server = make_wsgi_server("127.0.0.1", 0, _paced_stream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            head = _read_until(connection, b"\r\n\r\n")
            assert b"Transfer-Encoding: chunked" in head
            body = head.split(b"\r\n\r\n", 1)[1]
            reads = [body] if body else []
            while len(reads) < len(CHUNKS):
                reads.append(connection.recv(65536))
        assert reads == [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in CHUNKS]
    finally:
        server.shutdown()
        server.server_close()
