"""Which work gets a slot now, which waits in the buffer for one (bounded, first come first served, each
with a deadline), and which is refused; and the occupancy counters that follow from it."""

from __future__ import annotations

import time

from paddler.engine.embedding_jobs import EmbeddingJobs
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_stats import EngineCounters
from paddler.engine.generation_jobs import GenerationJobs
from paddler.engine.request_buffer import RequestBuffer
from paddler.engine.scheduler_command import GenerateTokensCommand, WorkCommand
from paddler.messages.request_rejected import BUFFER_OVERFLOW, SHUTTING_DOWN, WAIT_TIMED_OUT, RequestRejected


class Admission:
    def __init__(
        self,
        settings: EngineSettings,
        buffer: RequestBuffer[WorkCommand],
        counters: EngineCounters,
        generation_jobs: GenerationJobs,
        embedding_jobs: EmbeddingJobs,
    ) -> None:
        self._settings = settings
        self._buffer = buffer
        self._counters = counters
        self._generation_jobs = generation_jobs
        self._embedding_jobs = embedding_jobs

    @property
    def waiting(self) -> int:
        return len(self._buffer)

    def accept(self, command: WorkCommand, *, stopping: bool) -> None:
        """A new request: refused while stopping, admitted when a slot is free and nobody waits, else
        buffered (refused when the buffer is full)."""
        if stopping:
            self._refuse(command, SHUTTING_DOWN)
        elif self._busy_slots() < self._settings.slots and not len(self._buffer):
            self._admit(command)
        elif self._buffer.push(command.request_id, command, time.monotonic()):
            self._counters.buffered_requests = len(self._buffer)
        else:
            self._refuse(command, BUFFER_OVERFLOW)

    def withdraw(self, request_id: str) -> bool:
        """A cancelled request leaves the buffer; False when it was not waiting there."""
        if self._buffer.remove(request_id) is None:
            return False
        self._counters.buffered_requests = len(self._buffer)
        self._counters.requests_cancelled += 1
        return True

    def expire_waiting(self, now: float) -> None:
        for command in self._buffer.expire(now):
            self._refuse(command, WAIT_TIMED_OUT)
        self._counters.buffered_requests = len(self._buffer)

    def admit_waiting(self) -> None:
        while self._busy_slots() < self._settings.slots:
            command = self._buffer.pop_oldest()
            if command is None:
                break
            self._admit(command)
        self.update_occupancy()

    def refuse_waiting(self, result: RequestRejected) -> None:
        for command in self._buffer.drain():
            self._refuse(command, result)
        self._counters.buffered_requests = 0

    def update_occupancy(self) -> None:
        self._counters.slots_processing = self._busy_slots()
        self._counters.buffered_requests = len(self._buffer)

    def _busy_slots(self) -> int:
        return len(self._generation_jobs) + len(self._embedding_jobs)

    def _admit(self, command: WorkCommand) -> None:
        if isinstance(command, GenerateTokensCommand):
            self._generation_jobs.start(command)
        else:
            self._embedding_jobs.start(command)
        self.update_occupancy()

    def _refuse(self, command: WorkCommand, rejection: RequestRejected) -> None:
        self._counters.requests_rejected += 1
        command.stream.put(rejection)
