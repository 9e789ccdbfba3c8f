"""Plans one decode step: a token for every generating request first, then prompt chunks (chunked
prefill) in arrival order. While any request generates, a long prompt (more than `long_prompt` tokens
to prefill, as vLLM's long_prefill_token_threshold) gets at most `prefill_budget` tokens per step, so it
never stalls the running streams for more than a small chunk; short prompts go whole, so their time to
first token stays that of one step. With nothing generating, prompts fill the whole batch (n_batch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paddler.engine.batch_plan import BatchEntry, BatchPlan


@dataclass(frozen=True, slots=True)
class SchedulableRequest:
    request_key: int
    # Tokens not yet in the KV cache: 1 for a generating request, the rest of the prompt otherwise.
    pending_tokens: int
    generating: bool
    # Prompt tokens the request had to prefill when it started (its uncached prompt).
    prefill_tokens: int = 0


def schedule_batch(
    requests: Sequence[SchedulableRequest], n_batch: int, prefill_budget: int, long_prompt: int
) -> BatchPlan:
    """`requests` in arrival order. Generating requests always get their token (there are never more
    of them than n_batch, as slots <= n_batch is enforced by the settings)."""
    entries = [BatchEntry(request.request_key, 0, 1, wants_output=True) for request in requests if request.generating]
    room = n_batch - len(entries)
    budget = prefill_budget if entries else n_batch
    for request in requests:
        if request.generating or request.pending_tokens == 0 or room == 0:
            continue
        chunked = request.prefill_tokens > long_prompt
        count = min(request.pending_tokens, room, budget if chunked else room)
        if count == 0:
            continue
        entries.append(BatchEntry(request.request_key, 0, count, wants_output=count == request.pending_tokens))
        room -= count
        if chunked:
            budget -= count
    return BatchPlan(tuple(entries))
