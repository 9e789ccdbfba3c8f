"""The engine thread: admits requests into slots, runs one decode step at a time, streams results.

Each iteration: take commands (blocking only when idle), expire and admit buffered requests, then
one generation step (a token for every generating slot plus prompt chunks, in one batch) and one
embedding batch. Every failure of a request becomes that request's terminal result; nothing raised
here crosses to another thread.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from itertools import count

from paddler.engine.active_request import ActiveRequest
from paddler.engine.choose_slot import choose_slot
from paddler.engine.embedding_job import EmbeddingJob
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_state import EngineState
from paddler.engine.engine_status import EngineStatus
from paddler.engine.model_runner import DecodeRow, ModelRunner
from paddler.engine.normalize_embedding import normalize_embedding
from paddler.engine.parse_tool_calls import parse_tool_call_block
from paddler.engine.plan_embedding_batches import plan_embedding_batches
from paddler.engine.request_buffer import RequestBuffer
from paddler.engine.schedule_batch import SchedulableRequest, schedule_batch
from paddler.engine.scheduler_command import (
    CancelCommand,
    GenerateEmbeddingBatchCommand,
    GenerateTokensCommand,
    SchedulerCommand,
    StopCommand,
)
from paddler.engine.slot import Slot
from paddler.engine.token_classifier import ClassifiedToken, Section, TokenClassifier
from paddler.llama import DecodeOutcome, GrammarError, LlamaError, SamplingError
from paddler.messages.embedding_result import (
    DocumentEmbedding,
    DocumentExceedsBatchSize,
    EmbeddingsDisabled,
    EmbeddingsDone,
    NoEmbeddingsProduced,
)
from paddler.messages.generated_token_result import (
    GeneratedToken,
    GeneratedTokenResult,
    GenerationDone,
    GenerationErrorKind,
    GenerationFailed,
)
from paddler.messages.request_rejected import BUFFER_OVERFLOW, SHUTTING_DOWN, WAIT_TIMED_OUT, RequestRejected

logger = logging.getLogger(__name__)

WorkCommand = GenerateTokensCommand | GenerateEmbeddingBatchCommand
EVICTED = GenerationFailed(GenerationErrorKind.SAMPLER_ERROR, "Request evicted due to KV cache pressure")
INTERNAL_ERROR = RequestRejected(500, "Internal server error")


class ContinuousBatchLoop:
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
        self._counters = status.counters
        self._progress = progress
        self._slots = [Slot(seq_id) for seq_id in range(settings.slots)]
        self._active: dict[str, ActiveRequest] = {}
        self._embedding_jobs: deque[EmbeddingJob] = deque()
        self._buffer: RequestBuffer[WorkCommand] = RequestBuffer(
            settings.max_buffered_requests, settings.buffered_request_timeout
        )
        self._request_keys = count()
        self._stop_deadline: float | None = None
        self._runner: ModelRunner

    # --- lifecycle ---

    def run(self) -> None:
        self._status.state = EngineState.LOADING
        try:
            self._runner = ModelRunner(self._settings, self._progress)
        except BaseException as error:  # the thread must report, never die silently
            if isinstance(error, LlamaError):
                logger.error("cannot load the model: %s", error)
            else:
                logger.exception("model load failed")
            self._status.failure = str(error)
            self._status.state = EngineState.FAILED
            self._status.settled.set()
            self._reject_until_stopped()
            return
        self._status.runner = self._runner
        self._status.model_info = self._runner.model_info()
        self._status.n_ctx_seq = self._runner.n_ctx_seq
        self._status.state = EngineState.READY
        self._status.settled.set()
        try:
            self._serve()
        except BaseException as error:
            logger.exception("engine loop failed")
            self._status.failure = str(error)
            self._status.state = EngineState.FAILED
            self._end_everything(INTERNAL_ERROR)
        finally:
            with self._status.runner_lock:
                self._status.runner = None
                self._runner.close()
            if self._status.state is not EngineState.FAILED:
                self._status.state = EngineState.STOPPED

    def _reject_until_stopped(self) -> None:
        while True:
            command = self._commands.get()
            if isinstance(command, StopCommand):
                return
            if isinstance(command, GenerateTokensCommand | GenerateEmbeddingBatchCommand):
                command.stream.put(INTERNAL_ERROR)

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
            if self._active or self._embedding_jobs:
                self._step()

    def _step(self) -> None:
        started = time.perf_counter()
        if self._active:
            self._generation_step()
        if self._embedding_jobs:
            self._embedding_step()
        elapsed = time.perf_counter() - started
        self._counters.steps += 1
        self._counters.step_seconds += elapsed
        self._counters.step_duration.observe(elapsed)
        self._counters.decode_seconds = self._runner.decode_seconds

    def _has_work(self) -> bool:
        return bool(self._active or self._embedding_jobs or len(self._buffer))

    # --- commands ---

    def _receive_commands(self) -> None:
        """Take every waiting command; block for one only when idle and not stopping (a stopping,
        idle engine has nothing left to wait for)."""
        block = not self._has_work() and self._stop_deadline is None
        try:
            command = self._commands.get(block=block)
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
            return
        request = self._active.get(request_id)
        if request is not None:
            self._finish_done(request)
            return
        for job in self._embedding_jobs:
            if job.request_id == request_id:
                self._finish_embedding_job(job)
                return

    def _begin_stop(self, deadline: float) -> None:
        self._stop_deadline = deadline
        self._status.state = EngineState.DRAINING
        for command in self._buffer.drain():
            self._reject(command, SHUTTING_DOWN)
        self._counters.buffered_requests = 0

    def _end_everything(self, result: RequestRejected) -> None:
        for request in list(self._active.values()):
            self._runner.forget(request.slot.seq_id)
            request.slot.forget_cache()
            self._finish(request, result)
        for job in list(self._embedding_jobs):
            self._embedding_jobs.remove(job)
            job.command.stream.put(result)
        for command in self._buffer.drain():
            self._reject(command, result)
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
            self._start_embeddings(command)
        self._update_occupancy()

    def _start_generation(self, command: GenerateTokensCommand) -> None:
        if self._runner.generation_context is None:
            command.stream.put(
                GenerationFailed(
                    GenerationErrorKind.TOKEN_GENERATION_DISABLED, "token generation is disabled on this server"
                )
            )
            return
        free = [(slot.seq_id, slot.cached_tokens, slot.last_used) for slot in self._slots if not slot.busy]
        choice = choose_slot(free, command.prompt_tokens)
        if choice is None:
            raise RuntimeError("a request was admitted with no free slot")
        try:
            sampler = self._runner.new_sampler(command.sampling, command.grammar, ignore_eog=command.ignore_eog)
        except GrammarError as error:
            self._counters.requests_failed += 1
            command.stream.put(GenerationFailed(GenerationErrorKind.GRAMMAR_INITIALIZATION_FAILED, str(error)))
            return
        except LlamaError as error:
            self._counters.requests_failed += 1
            command.stream.put(GenerationFailed(GenerationErrorKind.SAMPLER_ERROR, str(error)))
            return
        slot = self._slots[choice.slot_index]
        reusable = self._reuse_cache(slot, choice.reusable_tokens)
        classifier = TokenClassifier(command.markers)
        classifier.replay(command.prompt_tokens)
        slot.busy = True
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

    def _reuse_cache(self, slot: Slot, reusable: int) -> int:
        """Keep the first `reusable` cached tokens of the slot in its KV cache, bringing them back from
        host memory when they were offloaded. Returns how many were kept."""
        state = slot.saved_state
        slot.saved_state = None
        if state is not None and (reusable == 0 or not self._runner.restore_sequence(slot.seq_id, state)):
            slot.forget_cache()
            return 0
        if reusable < len(slot.cached_tokens):
            self._runner.forget(slot.seq_id, reusable)
            del slot.cached_tokens[reusable:]
        return reusable

    def _offload_cache(self, slot: Slot) -> None:
        """Move an idle slot's KV cells to host memory, within the prompt cache budget."""
        if not self._settings.kv_unified or not slot.cached_tokens or self._settings.prompt_cache_bytes == 0:
            return
        slot.saved_state = self._runner.save_sequence(slot.seq_id)
        self._runner.forget(slot.seq_id)
        saved = sorted(
            (other for other in self._slots if other.saved_state is not None), key=lambda other: other.last_used
        )
        total = sum(len(other.saved_state or b"") for other in saved)
        for coldest in saved:
            if total <= self._settings.prompt_cache_bytes:
                break
            total -= len(coldest.saved_state or b"")
            coldest.forget_cache()

    def _start_embeddings(self, command: GenerateEmbeddingBatchCommand) -> None:
        if self._runner.embedding_context is None:
            command.stream.put(EmbeddingsDisabled())
            return
        plan = plan_embedding_batches(
            [len(document.tokens) for document in command.documents],
            self._settings.n_batch,
            min(self._settings.embedding_batch_sequences, self._settings.n_batch),
        )
        for document_index in plan.oversized:
            document = command.documents[document_index]
            command.stream.put(DocumentExceedsBatchSize(document.id, len(document.tokens), self._settings.n_batch))
        job = EmbeddingJob(command, plan)
        if job.finished:
            self._end_embedding_job(job)
        else:
            self._embedding_jobs.append(job)

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
        outcome, output_indices = self._runner.decode_generation(rows)
        if outcome is DecodeOutcome.NO_KV_SLOT:
            self._relieve_kv_pressure()
            return
        if outcome is DecodeOutcome.ABORTED:
            for request, _ in scheduled:
                self._runner.forget(request.slot.seq_id, request.position)
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
        request.generated_tokens += 1
        self._counters.generated_tokens += 1
        self._stream_tokens(request, request.classifier.push(token))
        # The slot's context is the last bound: tool-call tokens do not count toward max_tokens.
        if request.budget_spent or request.position + 1 >= self._status.n_ctx_seq:
            self._finish_done(request)
            return
        request.pending.append(token)
        request.generating = True

    def _stream_tokens(self, request: ActiveRequest, decided: list[ClassifiedToken], *, ending: bool = False) -> None:
        parsing = request.command.parse_tool_calls
        for classified in decided:
            request.counts[classified.section] += 1
            piece = self._runner.piece(classified.token)
            if parsing and classified.section is Section.TOOL_CALL:
                request.tool_call_bytes += piece
            if classified.is_marker:
                continue
            text = request.detokenizer.push(piece)
            if text:
                request.command.stream.put(GeneratedToken(classified.section.value, text))
        block_closed = request.classifier.section is not Section.TOOL_CALL
        if parsing and request.tool_call_bytes and (block_closed or ending):
            self._emit_tool_calls(request)

    def _emit_tool_calls(self, request: ActiveRequest) -> None:
        event = parse_tool_call_block(
            request.tool_call_bytes.decode("utf-8", "replace"), request.command.tools, request.tool_calls_parsed
        )
        request.tool_calls_parsed += len(event.calls)
        request.tool_call_bytes.clear()
        request.command.stream.put(event)

    def _relieve_kv_pressure(self) -> None:
        """First drop the cached prefix of the least recently used idle slot; only when none is
        left, evict the running request that holds the most positions (Paddler's rule)."""
        idle = [slot for slot in self._slots if not slot.busy and slot.cached_tokens and slot.saved_state is None]
        if idle:
            coldest = min(idle, key=lambda slot: slot.last_used)
            self._runner.forget(coldest.seq_id)
            coldest.forget_cache()
            return
        victim = max(self._active.values(), key=lambda request: request.position + len(request.pending))
        self._runner.forget(victim.slot.seq_id)
        victim.slot.forget_cache()
        self._counters.kv_evictions += 1
        logger.warning("evicting request %s (%d positions) under KV cache pressure", victim.request_id, victim.position)
        self._finish(victim, EVICTED)

    def _finish_done(self, request: ActiveRequest) -> None:
        self._stream_tokens(request, request.classifier.finish(), ending=True)
        tail = request.detokenizer.finish()
        if tail:
            request.command.stream.put(GeneratedToken(request.classifier.section.value, tail))
        self._finish(request, GenerationDone(request.usage()))

    def _finish(self, request: ActiveRequest, result: GeneratedTokenResult) -> None:
        del self._active[request.request_id]
        request.slot.busy = False
        request.slot.last_used = time.monotonic()
        request.sampler.close()
        self._offload_cache(request.slot)
        if isinstance(result, GenerationDone):
            self._counters.requests_completed += 1
        else:
            self._counters.requests_failed += 1
        request.command.stream.put(result)
        self._update_occupancy()

    # --- embeddings ---

    def _embedding_step(self) -> None:
        job = self._embedding_jobs.popleft()
        indices = job.plan.batches[job.next_batch]
        job.next_batch += 1
        documents = [job.command.documents[index] for index in indices]
        try:
            vectors = self._runner.embed([document.tokens for document in documents])
        except (LlamaError, RuntimeError):
            logger.exception("embedding batch failed")
            job.command.stream.put(INTERNAL_ERROR)
            self._update_occupancy()
            return
        normalization = job.command.normalization
        for document, vector in zip(documents, vectors, strict=True):
            job.command.stream.put(
                DocumentEmbedding(
                    document.id,
                    normalize_embedding(vector, normalization),
                    normalization,
                    self._settings.pooling_type,
                    len(document.tokens),
                )
            )
        job.produced += len(documents)
        self._counters.embedded_documents += len(documents)
        if job.finished:
            self._end_embedding_job(job)
        else:
            self._embedding_jobs.append(job)

    def _finish_embedding_job(self, job: EmbeddingJob) -> None:
        self._embedding_jobs.remove(job)
        self._end_embedding_job(job)

    def _end_embedding_job(self, job: EmbeddingJob) -> None:
        if job.produced == 0 and job.command.documents:
            job.command.stream.put(NoEmbeddingsProduced())
        job.command.stream.put(EmbeddingsDone())
        self._counters.requests_completed += 1
        self._update_occupancy()
