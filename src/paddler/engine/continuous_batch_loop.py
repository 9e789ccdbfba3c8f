"""The engine thread: admits requests into slots, runs one decode step at a time, streams results.

Each iteration reads as the step: receive commands (blocking only when idle), expire and admit waiting
requests (admission.py), then one generation step (generation_jobs.py: schedule, decode, sample and
stream, finish) and one embedding batch (embedding_jobs.py). Every failure of a request becomes that
request's terminal result; nothing raised here crosses to another thread. A fault (an exception or a
failed decode) ends the running requests and returns to the supervisor, which rebuilds the contexts and
starts a new loop.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass

from paddler.engine.admission import Admission
from paddler.engine.embedding_jobs import EmbeddingJobs
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_state import EngineState
from paddler.engine.engine_status import EngineStatus
from paddler.engine.generation_jobs import GenerationJobs
from paddler.engine.injected_fault import FaultKind, InjectedFault, InjectedFaultError
from paddler.engine.model_runner import ModelRunner
from paddler.engine.request_buffer import RequestBuffer
from paddler.engine.scheduler_command import (
    CancelCommand,
    GenerateEmbeddingBatchCommand,
    GenerateTokensCommand,
    SchedulerCommand,
    StopCommand,
    WorkCommand,
)
from paddler.messages.request_rejected import ENGINE_FAULT, SHUTTING_DOWN, RequestRejected

logger = logging.getLogger(__name__)
# How often the loop looks again when its only work waits for slow readers.
READERS_BEHIND_POLL_SECONDS = 0.01
# Slot activity (for the management API and the admin panel) is published at least this often while
# the loop runs, and at once when a request ends: describing every slot at every step cost a few
# percent of a one-stream step.
SLOT_ACTIVITY_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class EngineFault:
    """Why the loop stopped serving: an exception or a failed decode inside a step."""

    description: str


class ContinuousBatchLoop:
    """Serves until stopped or until a fault; the supervisor builds a new loop after a fault. The
    buffer outlives the loop, so requests still waiting for a slot wait across a restart."""

    def __init__(
        self,
        settings: EngineSettings,
        commands: queue.SimpleQueue[SchedulerCommand],
        status: EngineStatus,
        runner: ModelRunner,
        buffer: RequestBuffer[WorkCommand],
    ) -> None:
        self._commands = commands
        self._status = status
        self._counters = status.counters
        self._runner = runner
        self._stop_deadline: float | None = None
        self._faults = {fault.step: fault for fault in settings.injected_faults}
        self._generation_jobs = GenerationJobs(settings, runner, status, self._occupancy_changed)
        self._embedding_jobs = EmbeddingJobs(settings, runner, self._counters)
        self._admission = Admission(settings, buffer, self._counters, self._generation_jobs, self._embedding_jobs)
        self._activity_due = 0.0
        self._publish_slot_activity()

    def serve(self) -> EngineFault | None:
        """Serve until stopped (None) or until a fault, which ends every running request with
        ENGINE_FAULT (requests still buffered stay buffered) and is returned."""
        try:
            self._busy_loop()
        except Exception as error:  # the loop must end every request it holds, whatever went wrong
            logger.exception("engine loop failed")
            self._end_running(ENGINE_FAULT)
            return EngineFault(f"{type(error).__name__}: {error}")
        finally:
            self._status.step_started_at = None
            self._status.running_step.end()
        return None

    def _occupancy_changed(self) -> None:
        self._admission.update_occupancy()
        self._publish_slot_activity()

    def _publish_slot_activity(self) -> None:
        self._status.slot_activity = self._generation_jobs.describe()
        self._activity_due = time.monotonic() + SLOT_ACTIVITY_SECONDS

    @property
    def stopping(self) -> bool:
        """A stop was asked for: after a fault the engine then ends instead of restarting."""
        return self._stop_deadline is not None

    def _busy_loop(self) -> None:
        while True:
            self._receive_commands()
            now = time.monotonic()
            if self._stop_deadline is not None:
                if not self._has_work():
                    return
                if now >= self._stop_deadline:
                    self._end_everything(SHUTTING_DOWN)
                    return
            self._admission.expire_waiting(now)
            self._admission.admit_waiting()
            if now >= self._activity_due:
                self._publish_slot_activity()
            if self._can_step():
                self._step()

    def _step(self) -> None:
        started = time.perf_counter()
        self._status.step_started_at = time.monotonic()
        self._counters.steps += 1
        try:
            self._inject_fault(self._faults.pop(self._counters.steps, None))
            if self._generation_jobs:
                self._generation_jobs.step()
            if self._embedding_jobs:
                self._embedding_jobs.step()
                self._admission.update_occupancy()
        finally:
            self._status.step_started_at = None
        elapsed = time.perf_counter() - started
        self._counters.step_seconds += elapsed
        self._counters.step_duration.observe(elapsed)
        self._counters.decode_seconds = self._runner.decode_seconds

    def _inject_fault(self, fault: InjectedFault | None) -> None:
        if fault is None:
            return
        logger.warning("injecting a fault at engine step %d: %s", fault.step, fault.kind.value)
        match fault.kind:
            case FaultKind.RAISE:
                raise InjectedFaultError(f"fault injected at engine step {fault.step}")
            case FaultKind.STALL:
                time.sleep(fault.seconds)
            case FaultKind.DECODE_ERROR:
                self._generation_jobs.spoil_positions()

    def _has_work(self) -> bool:
        return bool(self._generation_jobs or self._embedding_jobs or self._admission.waiting)

    def _can_step(self) -> bool:
        """False while the only work is embedding jobs whose readers are behind (see EmbeddingJobs)."""
        return bool(self._generation_jobs) or self._embedding_jobs.runnable()

    # --- commands ---

    def _receive_commands(self) -> None:
        """Take every waiting command; block for one only when idle and not stopping (a stopping,
        idle engine has nothing left to wait for)."""
        block = not self._has_work() and self._stop_deadline is None
        # Work that cannot step (readers behind) is polled for, not spun on.
        timeout = None if block or self._can_step() else READERS_BEHIND_POLL_SECONDS
        try:
            command = self._commands.get(block=block or timeout is not None, timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._handle(command)
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return

    def _handle(self, command: SchedulerCommand) -> None:
        match command:
            case GenerateTokensCommand() | GenerateEmbeddingBatchCommand():
                self._admission.accept(command, stopping=self.stopping)
            case CancelCommand(request_id=request_id):
                self._cancel_request(request_id)
            case StopCommand(deadline=deadline):
                self._begin_stop(deadline)

    def _cancel_request(self, request_id: str) -> None:
        if self._admission.withdraw(request_id) or self._generation_jobs.drop_cancelled(request_id):
            return
        if self._embedding_jobs.drop_cancelled(request_id):
            self._admission.update_occupancy()

    def _begin_stop(self, deadline: float) -> None:
        """Drain: nothing new is accepted, while what runs and what was buffered before the stop are
        served until the deadline (a buffered request was accepted: it is answered, not refused)."""
        self._stop_deadline = deadline
        self._status.state = EngineState.DRAINING

    def _end_everything(self, result: RequestRejected) -> None:
        self._end_running(result)
        self._admission.refuse_waiting(result)
        self._admission.update_occupancy()

    def _end_running(self, result: RequestRejected) -> None:
        self._generation_jobs.end_all(result)
        self._embedding_jobs.end_all(result)
        self._admission.update_occupancy()
