"""Generating requests in their slots, the counterpart of EmbeddingJobs: each step schedules a token for
every generating request and prompt chunks for the rest (schedule_batch), decodes them as one batch, then
samples and streams for every request whose row produced logits, and finishes those that are done."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from itertools import count

from paddler.engine.active_request import ActiveRequest
from paddler.engine.adaptive_layout import stream_end, wanted_layout
from paddler.engine.batch_plan import BatchEntry, BatchPlan
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_status import EngineStatus
from paddler.engine.evict_for_kv_pressure import EVICTED, evict_for_kv_pressure
from paddler.engine.model_runner import (
    BUDGET_SPENT,
    END_OF_GENERATION,
    DecodeOutcome,
    DecodeRow,
    GrammarError,
    KvCacheFullError,
    LlamaError,
    ModelRunner,
    MultimodalChunks,
)
from paddler.engine.prefill_budget import PrefillBudget
from paddler.engine.prefix_sharing import settle_awaited_prefix
from paddler.engine.prompt_media import ImageSpan
from paddler.engine.request_phase import RequestPhase
from paddler.engine.schedule_batch import SchedulableRequest, schedule_batch
from paddler.engine.scheduler_command import GenerateTokensCommand
from paddler.engine.slot import Slot
from paddler.engine.slot_activity import SlotActivity, describe_slots
from paddler.engine.slot_cache import SlotCache
from paddler.messages.generated_token_result import (
    GeneratedTokenResult,
    GenerationDone,
    GenerationErrorKind,
    GenerationFailed,
)
from paddler.messages.request_rejected import RequestRejected

logger = logging.getLogger(__name__)


class GenerationJobs:
    """`occupancy_changed` is called whenever a request leaves, so the slots counters follow at once."""

    def __init__(
        self,
        settings: EngineSettings,
        runner: ModelRunner,
        status: EngineStatus,
        occupancy_changed: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._runner = runner
        self._status = status
        self._counters = status.counters
        self._occupancy_changed = occupancy_changed
        self._active: dict[str, ActiveRequest] = {}
        self._request_keys = count()
        self._slot_cache = SlotCache(settings, runner)
        self._prefill_budget = PrefillBudget(settings.prefill_budget, settings.n_batch)

    def __len__(self) -> int:
        return len(self._active)

    def describe(self) -> tuple[SlotActivity, ...]:
        """What each slot is doing now, for the engine to publish to other threads."""
        return describe_slots(self._slot_cache.slots, self._active.values())

    def start(self, command: GenerateTokensCommand) -> None:
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
        # Paddler yields one token even when max_tokens <= 0; without max_tokens the context ends it.
        budget = None if command.max_tokens is None else max(1, command.max_tokens)
        output = self._runner.new_output(command.markers, budget, keep_tool_call_bytes=command.parse_tool_calls)
        # Generation starts in the section the rendered prompt ends in (e.g. inside `<think>`).
        output.replay(command.prompt_tokens)
        slot, reusable, shared = self._slot_cache.take(command.prompt_tokens, self._waiting_slots())
        if command.media is not None and command.media.image_edge(reusable) < reusable:
            # A cached prefix ending inside an image keeps none of it (a cut that fails keeps nothing).
            edge = command.media.image_edge(reusable)
            reusable = 0 if self._slot_cache.truncate(slot, edge) else edge
        request = self._active[command.request_id] = ActiveRequest(
            key=next(self._request_keys),
            command=command,
            slot=slot,
            sampler=sampler,
            output=output,
            pending=list(command.prompt_tokens[reusable:]),
            cached_prompt_tokens=reusable,
            awaited=shared,
        )
        self._counters.prompt_tokens += len(command.prompt_tokens)
        self._counters.cached_prompt_tokens += reusable
        self._counters.prefix_cache_hits += reusable > 0
        self._settle_awaited(request)

    def _waiting_slots(self, besides: ActiveRequest | None = None) -> list[Slot]:
        return [
            request.slot for request in self._active.values() if request.awaited is not None and request is not besides
        ]

    def _settle_awaited(self, request: ActiveRequest) -> None:
        """The request takes its awaited prefix once its source holds it (engine/prefix_sharing.py)."""
        shared = settle_awaited_prefix(request, self._slot_cache, self._waiting_slots(request))
        if shared:
            self._counters.cached_prompt_tokens += shared
            self._counters.shared_prompt_tokens += shared
            self._counters.prefix_cache_hits += 1

    def step(self) -> None:
        """Take the shared prefixes now held, write the images prompts have reached, then schedule,
        decode, sample and stream. Under KV pressure the step makes room instead; an aborted decode is
        retried next step."""
        self._fit_layout()
        for request in list(self._active.values()):
            if request.awaited is not None:
                self._settle_awaited(request)
        self._write_images()
        plan, scheduled = self._schedule()
        # Nothing to decode when every request left, or waits for room for its image.
        if scheduled:
            self._decode_step(plan, scheduled)
        self._fit_layout()

    def _fit_layout(self) -> None:
        """With an adaptive layout, move the context to the layout its requests want (engine/adaptive_layout.py)."""
        kv_unified = wanted_layout(self._runner, self._active.values())
        if kv_unified is None:
            return
        started = time.perf_counter()
        dropped = self._runner.switch_layout(kv_unified)
        for seq_id in dropped:  # an idle slot's cache too long for its stream
            self._slot_cache.abandon(self._slot_cache.slots[seq_id])
        self._counters.kv_layout_switches += 1
        logger.info(
            "KV layout: %s for %d requests in %.0f ms (%d idle caches dropped)",
            "one pool" if kv_unified else "a stream per slot",
            len(self._active),
            1000 * (time.perf_counter() - started),
            len(dropped),
        )

    def _decode_step(self, plan: BatchPlan, scheduled: list[tuple[ActiveRequest, BatchEntry]]) -> None:
        rows = [
            DecodeRow(request.slot.seq_id, request.pending[: entry.count], request.position, entry.wants_output)
            for request, entry in scheduled
        ]
        running = self._status.running_step
        self._runner.clear_abort()
        running.begin({request.request_id: entry.count for request, entry in scheduled}, self._runner.abort_generation)
        decode_seconds = self._runner.decode_seconds
        try:
            outcome, output_indices = self._runner.decode_generation(rows)
        finally:
            running.end()
        if outcome is DecodeOutcome.NO_KV_SLOT:
            self._make_room()
            return
        if outcome is DecodeOutcome.ABORTED:
            for request, _ in scheduled:
                lost = self._slot_cache.truncate(request.slot, request.position)
                if lost:  # a recurrent state cannot drop the aborted part: decode it all again
                    request.pending[:0] = lost
                    request.phase = RequestPhase.PREFILL
            return
        decoding = sum(request.phase is RequestPhase.GENERATING for request, _ in scheduled)
        self._prefill_budget.observe(decoding, plan.n_tokens - decoding, self._runner.decode_seconds - decode_seconds)
        sampled = []
        for (request, entry), batch_index in zip(scheduled, output_indices, strict=True):
            request.consume(entry.count)
            if entry.wants_output:
                sampled.append((request, batch_index))
        if not sampled:
            return
        tokens, failures, events = self._runner.sample_step(
            [request.sampler for request, _ in sampled],
            [batch_index for _, batch_index in sampled],
            [request.output for request, _ in sampled],
        )
        for row, ((request, batch_index), token, flags) in enumerate(zip(sampled, tokens, events, strict=True)):
            failure = failures.get(row)
            if failure is not None:
                self._end_unsampled(request, failure)
            else:
                self._stream_token(request, batch_index, token, flags)

    def _schedule(self) -> tuple[BatchPlan, list[tuple[ActiveRequest, BatchEntry]]]:
        """This step's plan, and each of its entries with its request."""
        requests = list(self._active.values())
        end = stream_end(self._runner)
        plan = schedule_batch(
            [self._schedulable(request, end) for request in requests],
            self._settings.n_batch,
            self._prefill_budget.tokens(),
            # A prompt within one micro-batch costs one graph computation: short enough to go whole.
            self._settings.n_ubatch,
        )
        by_key = {request.key: request for request in requests}
        # A prompt's text that an image follows gives no output: sampling starts after the whole prompt.
        return plan, [
            (request, replace(entry, wants_output=entry.wants_output and entry.count == len(request.pending)))
            for request, entry in ((by_key[entry.request_key], entry) for entry in plan.entries)
        ]

    @staticmethod
    def _schedulable(request: ActiveRequest, end: int | None) -> SchedulableRequest:
        # A request waiting for a shared prefix is not scheduled until it has it, nor past `end`.
        ahead = 0 if request.awaited is not None else request.text_ahead
        if end is not None:
            ahead = min(ahead, max(0, end - request.position))
        return SchedulableRequest(
            request.key,
            ahead,
            request.phase is RequestPhase.GENERATING and ahead > 0,
            len(request.command.prompt_tokens) - request.cached_prompt_tokens,
        )

    def _write_images(self) -> None:
        """Write the images prefilling requests have reached into their slots (engine/prompt_media.py)."""
        for request in list(self._active.values()):
            media = request.command.media
            # A request waiting for a shared prefix writes nothing before it has it.
            image = None if media is None or request.awaited is not None else media.image_at(request.position)
            # Images next to each other are written one after the other: text always ends a prompt.
            while media is not None and image is not None:
                if not self._write_image(request, media.chunks, image):
                    return  # a request ended or the KV cache is full: other images wait for the next step
                image = media.image_at(request.position)

    def _write_image(self, request: ActiveRequest, chunks: MultimodalChunks, image: ImageSpan) -> bool:
        """Write one image into the request's slot. False when it was not: without room in the KV cache,
        room is made as for a decode and the image is tried again next step; any other failure ends the
        request."""
        self._runner.clear_abort()
        try:
            self._runner.evaluate_image(chunks, image.chunk_index, request.slot.seq_id, request.position)
        except LlamaError as error:
            # Part of a large image may have been written, batch by batch: none of it is kept.
            self._slot_cache.truncate(request.slot, request.position)
            if isinstance(error, KvCacheFullError):
                self._make_room()
            else:
                reason = f"failed to ingest multimodal prompt: {error}"
                self._end(request, GenerationFailed(GenerationErrorKind.SAMPLER_ERROR, reason))
            return False
        request.consume(image.length)
        return True

    def _make_room(self) -> None:
        # A request waiting for a shared prefix holds no cells to free.
        holders = [request for request in self._active.values() if request.awaited is None]
        victim = evict_for_kv_pressure(self._slot_cache, holders)
        if victim is not None:
            self._counters.kv_evictions += 1
            self._end(victim, EVICTED)

    def _end_unsampled(self, request: ActiveRequest, reason: str) -> None:
        kind = (
            GenerationErrorKind.GRAMMAR_REJECTED_MODEL_OUTPUT
            if request.command.grammar is not None
            else GenerationErrorKind.SAMPLER_ERROR
        )
        self._end(request, GenerationFailed(kind, reason))

    def _stream_token(self, request: ActiveRequest, batch_index: int, token: int, flags: int) -> None:
        """The binding already classified the token and completed its text (`flags`: OUTPUT_* of
        sample_and_push); what is left is per request: queueing, log-probabilities, tool calls."""
        if request.first_token_at is None:
            request.first_token_at = time.monotonic()
            self._counters.time_to_first_token.observe(request.first_token_at - request.command.submitted_at)
        if flags & END_OF_GENERATION:
            self._end_completed(request)
            return
        self._counters.generated_tokens += 1
        if request.command.top_logprobs is not None:
            request.logprobs.append(self._runner.token_logprobs(batch_index, token, request.command.top_logprobs))
        request.stream(flags, self._runner.piece)
        # The slot's context is the last bound: tool-call tokens do not count toward max_tokens.
        if flags & BUDGET_SPENT or request.position + 1 >= self._status.n_ctx_seq:
            self._end_completed(request)
            return
        request.pending.append(token)
        request.phase = RequestPhase.GENERATING

    def drop_cancelled(self, request_id: str) -> bool:
        request = self._active.get(request_id)
        if request is None:
            return False
        # Its reader is gone: nothing more is detokenized or parsed for it.
        self._end(request, GenerationDone(request.usage()), cancelled=True)
        return True

    def end_all(self, result: RequestRejected) -> None:
        for request in list(self._active.values()):
            self._end(request, result)

    def spoil_positions(self) -> None:
        """An injected fault: every request's next positions become ones llama.cpp refuses to decode."""
        for request in self._active.values():
            request.slot.cached_tokens.extend([0] * 8)

    def _end_completed(self, request: ActiveRequest) -> None:
        request.stream_rest(self._runner.piece)
        self._end(request, GenerationDone(request.usage()))

    def _end(self, request: ActiveRequest, result: GeneratedTokenResult, *, cancelled: bool = False) -> None:
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
        # The counters first: a reader that sees the end may look at them at once.
        self._occupancy_changed()
        request.command.stream.put(result)
