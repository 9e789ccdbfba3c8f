"""The engine thread: admits requests into slots, runs one decode step at a time, streams results.

Each iteration: take commands (blocking only when idle), expire and admit buffered requests, then
one generation step (a token for every generating slot plus prompt chunks, in one batch) and one
embedding batch. Every failure of a request becomes that request's terminal result; nothing raised
here crosses to another thread. A fault (an exception or a failed decode) ends the running requests and
returns to the supervisor, which rebuilds the contexts and starts a new loop.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from itertools import count

from paddler.engine.active_request import ActiveRequest
from paddler.engine.embedding_jobs import EmbeddingJobs
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_state import EngineState
from paddler.engine.engine_status import EngineStatus
from paddler.engine.injected_fault import FaultKind, InjectedFault, InjectedFaultError
from paddler.engine.model_runner import DecodeRow, ModelRunner
from paddler.engine.request_buffer import RequestBuffer
from paddler.engine.schedule_batch import SchedulableRequest, schedule_batch
from paddler.engine.scheduler_command import (
    CancelCommand,
    GenerateEmbeddingBatchCommand,
    GenerateTokensCommand,
    SchedulerCommand,
    StopCommand,
)
from paddler.engine.slot_cache import SlotCache
from paddler.engine.token_classifier import TokenClassifier
from paddler.llama import DecodeOutcome, GrammarError, LlamaError, SamplingError
from paddler.messages.generated_token_result import (
    GeneratedTokenResult,
    GenerationDone,
    GenerationErrorKind,
    GenerationFailed,
)
from paddler.messages.request_rejected import (
    BUFFER_OVERFLOW,
    ENGINE_FAULT,
    SHUTTING_DOWN,
    WAIT_TIMED_OUT,
    RequestRejected,
)

logger = logging.getLogger(__name__)

WorkCommand = GenerateTokensCommand | GenerateEmbeddingBatchCommand
EVICTED = GenerationFailed(GenerationErrorKind.SAMPLER_ERROR, "Request evicted due to KV cache pressure")
# How often the loop looks again when its only work waits for slow readers.
READERS_BEHIND_POLL_SECONDS = 0.01


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
        self._settings = settings
        self._commands = commands
        self._status = status
        self._counters = status.counters
        self._runner = runner
        self._buffer = buffer
        self._active: dict[str, ActiveRequest] = {}
        self._request_keys = count()
        self._stop_deadline: float | None = None
        self._faults = {fault.step: fault for fault in settings.injected_faults}
        self._slot_cache = SlotCache(settings, runner)
        self._embedding_jobs = EmbeddingJobs(settings, runner, self._counters)

    # --- lifecycle ---

    def run(self) -> EngineFault | None:
        """Serve until stopped (None) or until a fault, which ends every running request with
        ENGINE_FAULT (requests still buffered stay buffered) and is returned."""
        try:
            self._serve()
        except Exception as error:  # the loop must end every request it holds, whatever went wrong
            logger.exception("engine loop failed")
            self._end_running(ENGINE_FAULT)
            return EngineFault(f"{type(error).__name__}: {error}")
        finally:
            self._status.step_started_at = None
            self._status.running_step.end()
        return None

    @property
    def stopping(self) -> bool:
        """A stop was asked for: after a fault the engine then ends instead of restarting."""
        return self._stop_deadline is not None

    def _serve(self) -> None:
        while True:
            self._receive_commands()
            now = time.monotonic()
            if self._stop_deadline is not None:
                if not self._has_work():
                    return
                if now >= self._stop_deadline:
                    self._end_everything(SHUTTING_DOWN)
                    return
            self._expire_buffered(now)
            self._admit_buffered()
            if self._can_step():
                self._step()

    def _step(self) -> None:
        started = time.perf_counter()
        self._status.step_started_at = time.monotonic()
        self._counters.steps += 1
        try:
            self._inject_fault(self._faults.pop(self._counters.steps, None))
            if self._active:
                self._generation_step()
            if self._embedding_jobs:
                self._embedding_jobs.step()
                self._update_occupancy()
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
                for request in self._active.values():
                    request.slot.cached_tokens.extend([0] * 8)  # positions llama.cpp will refuse

    def _has_work(self) -> bool:
        return bool(self._active or self._embedding_jobs or len(self._buffer))

    def _can_step(self) -> bool:
        """False while the only work is embedding jobs whose readers are behind (see EmbeddingJobs)."""
        return bool(self._active) or self._embedding_jobs.runnable()

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
                self._accept(command)
            case CancelCommand(request_id=request_id):
                self._cancel(request_id)
            case StopCommand(deadline=deadline):
                self._begin_stop(deadline)

    def _accept(self, command: WorkCommand) -> None:
        if self._stop_deadline is not None:
            self._reject(command, SHUTTING_DOWN)
        elif self._busy_slots() < self._settings.slots and not len(self._buffer):
            self._start(command)
        elif self._buffer.push(command.request_id, command, time.monotonic()):
            self._counters.buffered_requests = len(self._buffer)
        else:
            self._reject(command, BUFFER_OVERFLOW)

    def _reject(self, command: WorkCommand, rejection: RequestRejected) -> None:
        self._counters.requests_rejected += 1
        command.stream.put(rejection)

    def _cancel(self, request_id: str) -> None:
        if self._buffer.remove(request_id) is not None:
            self._counters.buffered_requests = len(self._buffer)
            self._counters.requests_cancelled += 1
            return
        request = self._active.get(request_id)
        if request is not None:
            # Its reader is gone: nothing more is detokenized or parsed for it.
            self._finish(request, GenerationDone(request.usage()), cancelled=True)
            return
        if self._embedding_jobs.cancel(request_id):
            self._update_occupancy()

    def _begin_stop(self, deadline: float) -> None:
        self._stop_deadline = deadline
        self._status.state = EngineState.DRAINING
        for command in self._buffer.drain():
            self._reject(command, SHUTTING_DOWN)
        self._counters.buffered_requests = 0

    def _end_everything(self, result: RequestRejected) -> None:
        self._end_running(result)
        for command in self._buffer.drain():
            self._reject(command, result)
        self._update_occupancy()

    def _end_running(self, result: RequestRejected) -> None:
        for request in list(self._active.values()):
            self._finish(request, result)
        self._embedding_jobs.end_all(result)
        self._update_occupancy()

    # --- admission ---

    def _busy_slots(self) -> int:
        return len(self._active) + len(self._embedding_jobs)

    def _update_occupancy(self) -> None:
        self._counters.slots_processing = self._busy_slots()
        self._counters.buffered_requests = len(self._buffer)

    def _expire_buffered(self, now: float) -> None:
        for command in self._buffer.expire(now):
            self._reject(command, WAIT_TIMED_OUT)
        self._counters.buffered_requests = len(self._buffer)

    def _admit_buffered(self) -> None:
        while self._busy_slots() < self._settings.slots:
            command = self._buffer.pop_oldest()
            if command is None:
                break
            self._start(command)
        self._update_occupancy()

    def _start(self, command: WorkCommand) -> None:
        if isinstance(command, GenerateTokensCommand):
            self._start_generation(command)
        else:
            self._embedding_jobs.start(command)
        self._update_occupancy()

    def _start_generation(self, command: GenerateTokensCommand) -> None:
        if self._runner.generation_context is None:
            command.stream.put(
                GenerationFailed(
                    GenerationErrorKind.TOKEN_GENERATION_DISABLED, "token generation is disabled on this server"
                )
            )
            return
        try:
            sampler = self._runner.new_sampler(
                command.sampling, command.grammar, ignore_eog=command.ignore_eog, logit_bias=command.logit_bias
            )
        except GrammarError as error:
            self._counters.requests_failed += 1
            command.stream.put(GenerationFailed(GenerationErrorKind.GRAMMAR_INITIALIZATION_FAILED, str(error)))
            return
        except LlamaError as error:
            self._counters.requests_failed += 1
            command.stream.put(GenerationFailed(GenerationErrorKind.SAMPLER_ERROR, str(error)))
            return
        slot, reusable = self._slot_cache.take(command.prompt_tokens)
        classifier = TokenClassifier(command.markers)
        classifier.replay(command.prompt_tokens)
        self._active[command.request_id] = ActiveRequest(
            key=next(self._request_keys),
            command=command,
            slot=slot,
            sampler=sampler,
            pending=list(command.prompt_tokens[reusable:]),
            cached_prompt_tokens=reusable,
            classifier=classifier,
        )
        self._counters.prompt_tokens += len(command.prompt_tokens)
        self._counters.cached_prompt_tokens += reusable
        self._counters.prefix_cache_hits += reusable > 0

    # --- generation ---

    def _generation_step(self) -> None:
        requests = list(self._active.values())
        plan = schedule_batch(
            [SchedulableRequest(request.key, len(request.pending), request.generating) for request in requests],
            self._settings.n_batch,
        )
        by_key = {request.key: request for request in requests}
        scheduled = [(by_key[entry.request_key], entry) for entry in plan.entries]
        rows = [
            DecodeRow(request.slot.seq_id, request.pending[: entry.count], request.position, entry.wants_output)
            for request, entry in scheduled
        ]
        running = self._status.running_step
        self._runner.clear_abort()
        running.begin({request.request_id: entry.count for request, entry in scheduled}, self._runner.abort_generation)
        try:
            outcome, output_indices = self._runner.decode_generation(rows)
        finally:
            running.end()
        if outcome is DecodeOutcome.NO_KV_SLOT:
            self._relieve_kv_pressure()
            return
        if outcome is DecodeOutcome.ABORTED:
            for request, _ in scheduled:
                lost = self._slot_cache.truncate(request.slot, request.position)
                if lost:  # a recurrent state cannot drop the aborted part: decode it all again
                    request.pending[:0] = lost
                    request.generating = False
            return
        for (request, entry), batch_index in zip(scheduled, output_indices, strict=True):
            request.consume(entry.count)
            if entry.wants_output:
                self._sample_and_stream(request, batch_index)

    def _sample_and_stream(self, request: ActiveRequest, batch_index: int) -> None:
        try:
            token = self._runner.sample(request.sampler, batch_index)
        except SamplingError as error:
            kind = (
                GenerationErrorKind.GRAMMAR_REJECTED_MODEL_OUTPUT
                if request.command.grammar is not None
                else GenerationErrorKind.SAMPLER_ERROR
            )
            self._finish(request, GenerationFailed(kind, str(error)))
            return
        if request.first_token_at is None:
            request.first_token_at = time.monotonic()
            self._counters.time_to_first_token.observe(request.first_token_at - request.command.submitted_at)
        if token in self._runner.eog_tokens:
            self._finish_done(request)
            return
        self._counters.generated_tokens += 1
        if request.command.top_logprobs is not None:
            request.logprobs.append(self._runner.token_logprobs(batch_index, token, request.command.top_logprobs))
        request.stream(request.classifier.push(token), self._runner.piece)
        # The slot's context is the last bound: tool-call tokens do not count toward max_tokens.
        if request.budget_spent or request.position + 1 >= self._status.n_ctx_seq:
            self._finish_done(request)
            return
        request.pending.append(token)
        request.generating = True

    def _relieve_kv_pressure(self) -> None:
        """First drop the cached prefix of the least recently used idle slot; only when none is
        left, evict the running request that holds the most positions (Paddler's rule)."""
        if self._slot_cache.drop_coldest_idle():
            return
        victim = max(self._active.values(), key=lambda request: request.position + len(request.pending))
        self._slot_cache.forget(victim.slot)
        self._counters.kv_evictions += 1
        logger.warning("evicting request %r (%d positions) under KV cache pressure", victim.request_id, victim.position)
        self._finish(victim, EVICTED)

    def _finish_done(self, request: ActiveRequest) -> None:
        request.stream_rest(self._runner.piece)
        self._finish(request, GenerationDone(request.usage()))

    def _finish(self, request: ActiveRequest, result: GeneratedTokenResult, *, cancelled: bool = False) -> None:
        del self._active[request.request_id]
        request.sampler.close()
        if isinstance(result, RequestRejected):
            # A fault or a shutdown: the context is rebuilt or freed next, so nothing in it is touched.
            self._slot_cache.abandon(request.slot)
        else:
            self._slot_cache.release(request.slot, time.monotonic())
        if cancelled:
            self._counters.requests_cancelled += 1
        elif isinstance(result, GenerationDone):
            self._counters.requests_completed += 1
        else:
            self._counters.requests_failed += 1
        request.command.stream.put(result)
        self._update_occupancy()
