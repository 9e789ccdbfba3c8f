"""One request's results, written by the engine thread and read by the thread serving the client.

Closing the stream before its terminal result tells the engine the client is gone (llama.cpp's
server_response_reader does the same on destruction): the request leaves the buffer or frees its slot.
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar


class StreamResult(Protocol):
    @property
    def is_terminal(self) -> bool: ...


Result = TypeVar("Result", bound=StreamResult)


class ResultStream(Generic[Result]):
    def __init__(self, request_id: str, on_abandon: Callable[[str], None]) -> None:
        self.request_id = request_id
        # A write is one result or a step's results together (one wake-up of the reader for them all).
        self._results: queue.SimpleQueue[Result | tuple[Result, ...]] = queue.SimpleQueue()
        self._backlog: deque[Result] = deque()
        self._on_abandon = on_abandon
        self._ended = False
        self._closed = False

    def put(self, result: Result) -> None:
        """Engine side: append a result."""
        self._results.put(result)

    def put_all(self, results: Sequence[Result]) -> None:
        """Engine side: append a step's results in one write, so the reader wakes once for them."""
        if len(results) == 1:
            self._results.put(results[0])
        elif results:
            self._results.put(tuple(results))

    def get(self, timeout: float | None = None) -> Result:
        """The next result; raises queue.Empty after `timeout` seconds, StopIteration after the end."""
        if self._ended:
            raise StopIteration
        if not self._backlog:
            written = self._results.get(timeout=timeout)
            if isinstance(written, tuple):
                self._backlog.extend(written)
            else:
                self._backlog.append(written)
        result = self._backlog.popleft()
        if result.is_terminal:
            self._ended = True
        return result

    def __iter__(self) -> Iterator[Result]:
        return self

    def __next__(self) -> Result:
        return self.get()

    @property
    def unread(self) -> int:
        """Writes not yet read (a step's results count once): how far the reader is behind."""
        return self._results.qsize() + bool(self._backlog)

    @property
    def ended(self) -> bool:
        return self._ended

    def close(self) -> None:
        """Reader side: stop listening; cancels the request unless it already ended."""
        if self._closed:
            return
        self._closed = True
        if not self._ended:
            self._on_abandon(self.request_id)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
