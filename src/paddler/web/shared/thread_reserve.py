"""Threads held back for /health and /ready, and the bound on open WebSockets derived from the threads.

Under gunicorn's gthread worker the main thread only accepts connections; a pool of `threads` threads
reads and answers every request. When all of them are held (by open WebSockets, streams, event streams)
a new connection waits in the pool's queue, and nothing answers it, not even /health. So requests other
than the probes may hold at most `threads - reserved` threads at once; the request beyond is answered
503 at once, and the reserved threads stay free for the probes (which end in microseconds). WebSockets,
which hold a thread for as long as they stay open, get at most half of the rest by default, so HTTP
keeps the other half.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wsgi import ClosingIterator

PROBE_PATHS = frozenset({"/health", "/ready"})
# `paddler serve` (Werkzeug) starts a thread per request; its WebSocket bound is derived as for this.
DEFAULT_THREADS = 64
BUSY = "Every request thread of this server is busy; try again shortly"


def reserved_threads(threads: int) -> int:
    return max(2, threads // 16)


def websocket_limit(threads: int) -> int:
    """Half the threads left once the probes' reserve is taken (30 of gunicorn's default 64)."""
    return max(1, (threads - reserved_threads(threads)) // 2)


class Occupancy:
    """How many of something are open, and how many may be (None: no bound)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def try_enter(self) -> bool:
        with self._lock:
            if self.limit is not None and self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1


# The body and content type of the 503 for a request path.
BusyBody = Callable[[str], tuple[bytes, str]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def plain_text_busy(path: str) -> tuple[bytes, str]:
    return BUSY.encode(), "text/plain; charset=utf-8"


def _busy(environ: dict[str, Any], start_response: Callable[..., Any], busy_body: BusyBody) -> Iterable[bytes]:
    body, content_type = busy_body(environ.get("PATH_INFO", ""))
    start_response(
        "503 Service Unavailable",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Retry-After", "1")],
    )
    return [body]


class ThreadReserve:
    """WSGI middleware: requests other than the probes hold at most `threads - reserved` threads."""

    def __init__(self, app: WsgiApp, busy_body: BusyBody = plain_text_busy, threads: int | None = None) -> None:
        self._app = app
        self._busy_body = busy_body
        self.requests = Occupancy(None)
        if threads is not None:
            self.fit_to(threads)

    def fit_to(self, threads: int) -> None:
        self.requests.limit = max(1, threads - reserved_threads(threads))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in PROBE_PATHS:
            return self._app(environ, start_response)
        if not self.requests.try_enter():
            return _busy(environ, start_response, self._busy_body)
        try:
            body = self._app(environ, start_response)
        except BaseException:  # a WebSocket under gunicorn ends with StopIteration raised from here
            self.requests.leave()
            raise
        return ClosingIterator(body, [self.requests.leave])
