"""A ResultStream as a streaming NDJSON response: one envelope per line, ending after the terminal one.

Whatever ends the response — the terminal result, a client that disconnected, a server error — the
stream is closed in `finally`, which cancels the request in the engine when it had not ended.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, request

from paddler.engine.result_stream import Result, ResultStream
from paddler.web.client_connection import client_disconnected

POLL_SECONDS = 0.25


def follow(stream: ResultStream[Result], environ: dict[str, Any]) -> Iterator[Result]:
    """The stream's results until its terminal one, stopping early when the client goes away; the
    stream is closed (cancelling the request if it had not ended) whatever ends the iteration."""
    next_check = time.monotonic() + POLL_SECONDS
    try:
        while True:
            try:
                result: Result | None = stream.get(timeout=POLL_SECONDS)
            except queue.Empty:
                result = None
            # Checked while tokens flow too: a half-closed client still reads, so writes never fail.
            if time.monotonic() >= next_check:
                if client_disconnected(environ):
                    return
                next_check = time.monotonic() + POLL_SECONDS
            if result is None:
                continue
            yield result
            if result.is_terminal:
                return
    finally:
        stream.close()


def _lines(stream: ResultStream[Result], to_line: Callable[[Result], str], environ: dict[str, Any]) -> Iterator[bytes]:
    for result in follow(stream, environ):
        yield (to_line(result) + "\n").encode()


def ndjson_response(stream: ResultStream[Result], to_line: Callable[[Result], str]) -> Response:
    return Response(
        _lines(stream, to_line, request.environ),
        status=200,
        content_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )


def single_line_response(line: str) -> Response:
    return Response(line + "\n", status=200, content_type="application/json", headers={"Cache-Control": "no-cache"})
