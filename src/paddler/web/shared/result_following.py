"""Reading an engine request's results for a client: until the terminal one, or until the client goes away.

Whatever ends the iteration — the terminal result, a client that disconnected, a server error — the
stream is closed in `finally`, which cancels the request in the engine when it had not ended.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

from paddler.engine.result_stream import Result, ResultStream
from paddler.web.shared.client_connection import client_disconnected

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
