"""Where a request waits while no agent can take it (none has joined yet, or every one is draining): HAProxy's
backup server, used only then. It holds the request until HAProxy has an agent up, then answers 425,
which HAProxy retries on that agent (`retry-on 425`, `option redispatch`); or, after the buffered request
timeout, answers Paddler's 504 itself. It takes at most --max-buffered-requests at a time, as Paddler's
buffer does when it has no agent (scale from zero); the excess gets Paddler's 503. A request too large
for HAProxy to keep for a retry is not held: it gets 503 "No agent is serving" at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from paddler.messages.request_rejected import BUFFER_OVERFLOW, WAIT_TIMED_OUT, RequestRejected
from paddler.web.balancer.haproxy_runtime import HaproxyRuntime, HaproxyRuntimeError
from paddler.web.shared.error_envelope import error_envelope
from paddler.web.shared.retry_elsewhere import RETRY_STATUS

LOOK_SECONDS = 0.05
NO_AGENT = RequestRejected(503, "No agent is serving")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _rejection(rejected: RequestRejected) -> bytes:
    return error_envelope(str(uuid.uuid4()), rejected.code, rejected.description).encode() + b"\n"


class WaitingRoom:
    """A WSGI app answering any request HAProxy sends it."""

    def __init__(
        self,
        runtime: HaproxyRuntime,
        max_buffered_requests: int,
        timeout_ms: int,
        stopped: threading.Event,
        largest_body: int,
    ) -> None:
        self._runtime = runtime
        self._largest_body = largest_body
        self._capacity = max_buffered_requests
        self._timeout = timeout_ms / 1000
        self._stopped = stopped
        self._lock = threading.Lock()
        self._holding = 0
        self._look_lock = threading.Lock()
        self._looked_at = -LOOK_SECONDS
        self._seen_up = False

    def _agent_up(self) -> bool:
        """Whether HAProxy has an agent up. One look at its stats serves every waiting request for
        LOOK_SECONDS: a crowd waiting for the first agent costs HAProxy 20 looks a second, not 20 each."""
        with self._look_lock:
            now = time.monotonic()
            if now - self._looked_at >= LOOK_SECONDS:
                self._seen_up = self._look()
                self._looked_at = time.monotonic()
            return self._seen_up

    def _look(self) -> bool:
        try:
            servers = self._runtime.stats().servers
        except HaproxyRuntimeError:
            return False
        return any(server.status == "UP" for server in servers.values())

    def _wait_for_agent(self) -> bool:
        deadline = time.monotonic() + self._timeout
        while not self._stopped.is_set():
            if self._agent_up():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(LOOK_SECONDS)
        return False

    def _retriable(self, environ: dict[str, Any]) -> bool:
        """Whether HAProxy kept the whole request, so it can send it to an agent after the 425."""
        length = environ.get("CONTENT_LENGTH") or "0"
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "")
        return not chunked and length.isdigit() and int(length) <= self._largest_body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._retriable(environ):
            return self._answer(start_response, NO_AGENT)
        with self._lock:
            admitted = self._holding < self._capacity
            self._holding += admitted
        if not admitted:
            return self._answer(start_response, BUFFER_OVERFLOW)
        try:
            if self._wait_for_agent():
                start_response(RETRY_STATUS, [("Content-Length", "0")])
                return [b""]
        finally:
            with self._lock:
                self._holding -= 1
        return self._answer(start_response, WAIT_TIMED_OUT)

    @staticmethod
    def _answer(start_response: StartResponse, rejected: RequestRejected) -> list[bytes]:
        body = _rejection(rejected)
        status = f"{rejected.code} {HTTPStatus(rejected.code).phrase}"
        start_response(status, [("Content-Type", "application/x-ndjson"), ("Content-Length", str(len(body)))])
        return [body]
