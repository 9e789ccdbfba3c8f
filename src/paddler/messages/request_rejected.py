"""Rejections decided by admission control rather than by the model: Paddler's in-band `Error` envelope."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestRejected:
    code: int
    description: str

    @property
    def is_terminal(self) -> bool:
        return True


BUFFER_OVERFLOW = RequestRejected(503, "Buffered requests overflow")
WAIT_TIMED_OUT = RequestRejected(504, "Waiting for available slot timed out")
SHUTTING_DOWN = RequestRejected(503, "balancer is shutting down")
INTERNAL_ERROR = RequestRejected(500, "Internal server error")
# The engine loop faulted while the request ran; the engine restarts by itself, so a retry may succeed.
ENGINE_FAULT = RequestRejected(500, "The engine failed while serving this request and is restarting; retry it")
