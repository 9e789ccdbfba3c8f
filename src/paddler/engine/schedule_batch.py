"""Plans one decode step: a token for every generating request first, then prompt chunks (chunked
prefill) in arrival order. While any request generates, prompts get at most `prefill_budget` tokens
per step, so a long prompt arriving never stalls the running streams for more than a small chunk;
with nothing generating, prompts fill the whole batch (n_batch) and are done as fast as possible."""

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


def schedule_batch(requests: Sequence[SchedulableRequest], n_batch: int, prefill_budget: int) -> BatchPlan:
    """`requests` in arrival order. Generating requests always get their token (there are never more
    of them than n_batch, as slots <= n_batch is enforced by the settings)."""
    entries = [BatchEntry(request.request_key, 0, 1, wants_output=True) for request in requests if request.generating]
    room = n_batch - len(entries)
    if entries:
        room = min(room, prefill_budget)
    for request in requests:
        if request.generating or request.pending_tokens == 0 or room == 0:
            continue
        count = min(request.pending_tokens, room)
        entries.append(BatchEntry(request.request_key, 0, count, wants_output=count == request.pending_tokens))
        room -= count
    return BatchPlan(tuple(entries))
