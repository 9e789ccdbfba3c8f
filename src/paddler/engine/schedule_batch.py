"""Plans one decode step: a token for every generating request first, then prompt chunks (chunked
prefill) in arrival order up to n_batch, so a long prompt never stalls running streams."""

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


def schedule_batch(requests: Sequence[SchedulableRequest], n_batch: int) -> BatchPlan:
    """`requests` in arrival order. Generating requests always get their token (there are never more
    of them than n_batch, as slots <= n_batch is enforced by the settings)."""
    entries = [BatchEntry(request.request_key, 0, 1, wants_output=True) for request in requests if request.generating]
    room = n_batch - len(entries)
    for request in requests:
        if request.generating or request.pending_tokens == 0 or room == 0:
            continue
        count = min(request.pending_tokens, room)
        entries.append(BatchEntry(request.request_key, 0, count, wants_output=count == request.pending_tokens))
        room -= count
    return BatchPlan(tuple(entries))
