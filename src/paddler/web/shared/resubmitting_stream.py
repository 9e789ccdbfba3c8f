"""A request's results across a model swap.

A swap stops the old engine, which turns away its buffered requests (and any that reach it while it
drains) with the "shutting down" rejection before they produce anything. Such a request is not the
client's problem: it is submitted again to the engine that replaces the old one, as if it had waited
in one buffer all along, and is turned away only when no engine is ready by the buffer's deadline.
A rejection while no swap is under way (the server itself is stopping) reaches the client unchanged.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_errors import EngineUnavailableError
from paddler.engine.result_stream import ResultStream, StreamResult
from paddler.messages.request_rejected import SHUTTING_DOWN, WAIT_TIMED_OUT, RequestRejected

Result = TypeVar("Result", bound=StreamResult)


class EngineSource(Protocol):
    """Where the serving engine is found (PaddlerServices); `engine_ready` is clear during a swap."""

    engine: ContinuousBatchEngine
    engine_ready: threading.Event


def swapped_away(source: EngineSource, engine: ContinuousBatchEngine) -> bool:
    """True when `engine` is being replaced or has been: what it refuses, its successor may serve."""
    return source.engine is not engine or not source.engine_ready.is_set()


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class ResubmittingStream(ResultStream[Result]):
    """The reading side of a ResultStream (get or iterate until the terminal result, close to cancel)
    over the stream of whichever engine holds the request now; nothing is put into it."""

    def __init__(
        self,
        source: EngineSource,
        submit: Callable[[ContinuousBatchEngine], ResultStream[Result]],
        deadline: float,
    ) -> None:
        """Submits to the serving engine at once, waiting for one (up to `deadline`) during a swap;
        raises what the engine's submit raises when no engine will take the request."""
        self._source = source
        self._submit = submit
        self._deadline = deadline
        self._engine, self._stream = self._first_submission()
        super().__init__(self._stream.request_id, on_abandon=lambda _request_id: None)  # close() cancels
        self._finished = False
        self._abandoned = False
        self._delivered = False
        self._turned_away = False
        self._final: Result | None = None

    @property
    def ended(self) -> bool:
        return self._finished

    def _first_submission(self) -> tuple[ContinuousBatchEngine, ResultStream[Result]]:
        while True:
            if not self._source.engine_ready.wait(_remaining(self._deadline)):
                raise EngineUnavailableError("the model is being replaced; try again shortly")
            engine = self._source.engine
            try:
                return engine, self._submit(engine)
            except EngineUnavailableError:
                # Stopped for a swap after this request picked it: its successor may take the request.
                if not swapped_away(self._source, engine) or time.monotonic() >= self._deadline:
                    raise
                if self._source.engine_ready.wait(_remaining(self._deadline)) and self._source.engine is engine:
                    raise

    def get(self, timeout: float | None = None) -> Result:
        """The next result; raises queue.Empty after `timeout` seconds, StopIteration after the end."""
        if self._finished:
            raise StopIteration
        call_deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._turned_away:
                self._resubmit(call_deadline)
            if self._final is not None:
                self._finished = True
                return self._final
            if self._turned_away:
                continue
            result = self._stream.get(timeout=_remaining(call_deadline))
            if self._turned_away_by_swap(result):
                self._turned_away = True
                continue
            self._delivered = True
            self._finished = result.is_terminal
            return result

    def _turned_away_by_swap(self, result: Result) -> bool:
        return (
            isinstance(result, RequestRejected)
            and result == SHUTTING_DOWN
            and not self._delivered
            and swapped_away(self._source, self._engine)
        )

    def _resubmit(self, call_deadline: float | None) -> None:
        """Wait for the replacement engine (within this call's timeout) and submit to it."""
        wait_until = self._deadline if call_deadline is None else min(self._deadline, call_deadline)
        if not self._source.engine_ready.wait(_remaining(wait_until)):
            if time.monotonic() >= self._deadline:
                self._end_with(WAIT_TIMED_OUT)
                return
            raise queue.Empty
        engine = self._source.engine
        if engine is self._engine:
            self._end_with(SHUTTING_DOWN)
            return
        try:
            self._stream = self._submit(engine)
        except EngineUnavailableError as error:
            if swapped_away(self._source, engine):
                self._engine = engine  # replaced again while submitting: wait for the next one
                return
            self._end_with(RequestRejected(503, str(error)))
            return
        except ValueError as error:  # the new model or context cannot take it (too large, bad token)
            self._end_with(RequestRejected(400, str(error)))
            return
        self._engine = engine
        self._turned_away = False
        if self._abandoned:  # closed by another thread while this one resubmitted
            self._stream.close()

    def _end_with(self, rejection: RequestRejected) -> None:
        self._turned_away = False
        self._final = cast("Result", rejection)

    def close(self) -> None:
        """Stop listening; cancels the request in its engine unless it already ended."""
        self._abandoned = True
        self._stream.close()
