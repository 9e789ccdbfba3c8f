"""Plans one decode step: a token for every generating request first, then prompt chunks (chunked
prefill) in arrival order. While any request generates, a long prompt (more than `n_ubatch` tokens
to prefill, as vLLM's long_prefill_token_threshold) gets at most `prefill_budget` tokens per step, so it
never stalls the running streams for more than a small chunk; short prompts go whole, so their time to
first token stays that of one step. With nothing generating, prompts fill the batch (n_batch).

A step ends with the micro-batch (n_ubatch tokens) in which its first prompt completes: llama.cpp
computes the tokens past it in graphs of their own within the same llama_decode, so a prompt that
completed early would only wait for them to give its first token. A short prompt after it goes only if
it fits whole within that micro-batch (a long one takes what room is left). A burst of prompts thus
streams its first tokens micro-batch by micro-batch instead of all at the end of the burst (16 streams
over HTTP on a 2-core CPU: time to first token p50 0.97x -> 0.67x llama-server's, docs/engine.md)."""

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
    requests: Sequence[SchedulableRequest], n_batch: int, prefill_budget: int, n_ubatch: int
) -> BatchPlan:
    """`requests` in arrival order. Generating requests always get their token (there are never more
    of them than n_batch, as slots <= n_batch is enforced by the settings)."""
    entries = [BatchEntry(request.request_key, 0, 1, wants_output=True) for request in requests if request.generating]
    tokens = len(entries)
    limit = n_batch
    budget = prefill_budget if entries else n_batch
    for request in requests:
        if request.generating or request.pending_tokens == 0:
            continue
        chunked = request.prefill_tokens > n_ubatch
        room = limit - tokens
        if room <= 0 or (limit < n_batch and not chunked and request.pending_tokens > room):
            continue
        count = min(request.pending_tokens, room, budget if chunked else room)
        if count == 0:
            continue
        completes = count == request.pending_tokens
        entries.append(BatchEntry(request.request_key, 0, count, wants_output=completes))
        tokens += count
        if chunked:
            budget -= count
        if completes and limit == n_batch:
            limit = min(n_batch, _micro_batch_end(tokens, n_ubatch))
    return BatchPlan(tuple(entries))


def _micro_batch_end(tokens: int, n_ubatch: int) -> int:
    """The token count at which the micro-batch holding token number `tokens` ends."""
    return -(-tokens // n_ubatch) * n_ubatch
