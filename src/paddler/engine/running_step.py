"""The decode step now running, as request threads see it: a cancelled request whose tokens make up
most of the step aborts the decode, so a client that leaves during a long prefill stops costing
compute at once instead of when the step ends.

Only a majority share aborts: the other requests of an aborted step lose that step's work and decode it
again, so a client cannot stall others by cancelling small requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping


class RunningStep:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens_by_request: Mapping[str, int] = {}
        self._cancelled_tokens = 0
        self._abort: Callable[[], None] | None = None

    def begin(self, tokens_by_request: Mapping[str, int], abort: Callable[[], None]) -> None:
        """Engine thread, before decoding; `abort` makes that decode return early."""
        with self._lock:
            self._tokens_by_request = dict(tokens_by_request)
            self._cancelled_tokens = 0
            self._abort = abort

    def end(self) -> None:
        with self._lock:
            self._tokens_by_request = {}
            self._abort = None

    def note_cancelled(self, request_id: str) -> bool:
        """Any thread: the request was cancelled. True when that aborted the running decode."""
        with self._lock:
            tokens = self._tokens_by_request.get(request_id)
            if tokens is None or self._abort is None:
                return False
            self._cancelled_tokens += tokens
            if 2 * self._cancelled_tokens <= sum(self._tokens_by_request.values()):
                return False
            self._abort()
            self._abort = None
            return True
