"""The engine thread's outer loop: load the model, serve, and heal after a fault.

A fault (an exception or a failed decode inside a step) ends the requests that were running with one
clear error; requests still waiting for a slot, and commands queued meanwhile, wait. The contexts are
rebuilt (the model is loaded again only when that fails) and a new loop serves within seconds. Faults
that come too often mean something is wrong beyond one request: the engine then fails for good, says
why, and answers every later command with that reason instead of restarting forever.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable

from paddler.engine.continuous_batch_loop import ContinuousBatchLoop, EngineFault
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_state import EngineState
from paddler.engine.engine_status import EngineStatus
from paddler.engine.model_runner import LlamaError, ModelRunner
from paddler.engine.request_buffer import RequestBuffer
from paddler.engine.scheduler_command import (
    GenerateEmbeddingBatchCommand,
    GenerateTokensCommand,
    SchedulerCommand,
    StopCommand,
    WorkCommand,
)
from paddler.messages.request_rejected import SHUTTING_DOWN, RequestRejected

logger = logging.getLogger(__name__)
# More faults than this within the window and the engine stops restarting.
MAX_RESTARTS = 3
RESTART_WINDOW_SECONDS = 60.0


class EngineSupervisor:
    def __init__(
        self,
        settings: EngineSettings,
        commands: queue.SimpleQueue[SchedulerCommand],
        status: EngineStatus,
        progress: Callable[[float], bool | None] | None = None,
    ) -> None:
        self._settings = settings
        self._commands = commands
        self._status = status
        self._progress = progress
        # Outlives each loop: buffered requests wait across a restart.
        self._buffer: RequestBuffer[WorkCommand] = RequestBuffer(
            settings.max_buffered_requests, settings.buffered_request_timeout
        )
        self._fault_times: deque[float] = deque()

    def run(self) -> None:
        """The engine thread's body; returns once the engine has stopped."""
        self._status.state = EngineState.LOADING
        runner = self._load_runner()
        if runner is not None:
            self._status.model_info = runner.describe_model()
            self._status.n_ctx_seq = runner.n_ctx_seq
            self._status.state = EngineState.READY
        self._status.settled.set()
        try:
            if runner is not None:
                runner = self._serve_loops(runner)
        finally:
            self._free_runner(runner)
        if self._status.state is EngineState.FAILED:
            self._reject_until_stopped()
        else:
            self._status.state = EngineState.STOPPED
            self._reject_queued()

    def _load_runner(self) -> ModelRunner | None:
        """A runner for the settings, its vocabulary attached to the tokenizer facade; None (and FAILED)
        when it cannot load."""
        try:
            runner = ModelRunner(self._settings, self._progress)
        except Exception as error:  # whatever the load raised, the engine must report it
            if isinstance(error, LlamaError):
                logger.error("cannot load the model: %s", error)
            else:
                logger.exception("model load failed")
            self._fail(str(error))
            return None
        self._status.tokenizer.attach(runner.vocab, runner.multimodal)
        self._status.abort_decode = runner.request_abort
        return runner

    def _serve_loops(self, runner: ModelRunner) -> ModelRunner | None:
        """Run loops until stopped or failed for good; returns the runner left to close."""
        current: ModelRunner | None = runner
        while current is not None:
            loop = ContinuousBatchLoop(self._settings, self._commands, self._status, current, self._buffer)
            fault = loop.serve()
            if fault is None or loop.stopping:
                return current
            if not self._may_restart(fault):
                return current
            current = self._recover(current)
        return None

    def _may_restart(self, fault: EngineFault) -> bool:
        now = time.monotonic()
        self._status.last_fault = (fault.description, now)
        self._fault_times.append(now)
        while self._fault_times and now - self._fault_times[0] > RESTART_WINDOW_SECONDS:
            self._fault_times.popleft()
        if len(self._fault_times) <= MAX_RESTARTS:
            logger.error("the engine faulted (%s); rebuilding it", fault.description)
            return True
        self._fail(
            f"the engine faulted {len(self._fault_times)} times within {RESTART_WINDOW_SECONDS:.0f} s and will "
            f"not restart by itself; the last fault: {fault.description}"
        )
        return False

    def _recover(self, runner: ModelRunner) -> ModelRunner | None:
        """Fresh contexts on the loaded model; a fresh model when that fails; None when neither loads."""
        self._status.state = EngineState.RECOVERING
        try:
            runner.rebuild_contexts()
        except Exception:  # the old runner is beyond repair; load everything again
            logger.exception("rebuilding the contexts failed; loading the model again")
            self._free_runner(runner)
            rebuilt = self._load_runner()
            if rebuilt is None:
                return None
            runner = rebuilt
        self._status.counters.engine_restarts += 1
        self._status.n_ctx_seq = runner.n_ctx_seq
        self._status.state = EngineState.READY
        logger.warning("the engine serves again (restart %d)", self._status.counters.engine_restarts)
        return runner

    def _fail(self, reason: str) -> None:
        logger.error("the engine failed: %s", reason)
        self._status.failure = reason
        self._status.state = EngineState.FAILED
        for command in self._buffer.drain():
            command.stream.put(self._failed_rejection())
        self._status.counters.buffered_requests = 0

    def _failed_rejection(self) -> RequestRejected:
        return RequestRejected(503, f"The engine is not serving: {self._status.failure}")

    def _free_runner(self, runner: ModelRunner | None) -> None:
        self._status.abort_decode = None
        with self._status.tokenizer.detached():
            if runner is not None:
                runner.close()

    def _reject_until_stopped(self) -> None:
        """A failed engine answers every command with the reason until it is stopped."""
        while True:
            command = self._commands.get()
            if isinstance(command, StopCommand):
                self._reject_queued()
                return
            if isinstance(command, GenerateTokensCommand | GenerateEmbeddingBatchCommand):
                command.stream.put(self._failed_rejection())

    def _reject_queued(self) -> None:
        """Nothing may wait on a stopped engine: anything still queued is answered."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if isinstance(command, GenerateTokensCommand | GenerateEmbeddingBatchCommand):
                command.stream.put(SHUTTING_DOWN)
