"""The adaptive KV layout (--kv-layout adaptive, the default): a KV stream per slot while every request
fits one, one pool while a request needs more. This module decides; GenerationJobs keeps its schedule
inside a stream (stream_end) and moves the context (ModelRunner.switch_layout) when wanted_layout says so."""

from __future__ import annotations

from collections.abc import Collection

from paddler.engine.active_request import ActiveRequest
from paddler.engine.model_runner import ModelRunner

# Back to a stream per slot only once each running request will end within this share of one, so a
# request near a stream's end does not move the context back and forth.
RETURN_SHARE = 0.75


def stream_end(runner: ModelRunner) -> int | None:
    """The KV cells a request may reach this step: its stream's while the layout is per slot and may
    become one pool (the request then waits for the pool there); None: only the context bounds it."""
    return runner.stream_cells if runner.adaptive and not runner.kv_unified else None


def wanted_layout(runner: ModelRunner, requests: Collection[ActiveRequest]) -> bool | None:
    """The layout (kv_unified) the context should move to now, or None to stay. One pool as soon as a
    request needs more than its stream; a stream per slot again once two or more requests run and each
    will end within RETURN_SHARE of one. Never while a prefix copy across streams awaits its decode."""
    if not runner.adaptive or runner.copies_pending or not requests:
        return None
    end = stream_end(runner)
    if end is not None:
        return True if any(request.position + len(request.pending) > end for request in requests) else None
    # In the pool, a slot's stream is what the context would give it: its share of the cells.
    stream = runner.settings.context_size // runner.settings.slots
    if len(requests) >= 2 and all(_planned_end(request) <= stream * RETURN_SHARE for request in requests):
        return False
    return None


def _planned_end(request: ActiveRequest) -> int:
    """The cells a request will hold when it ends, as far as known (without max_tokens: what it holds)."""
    planned = request.position + len(request.pending)
    max_tokens = request.command.max_tokens
    return planned if max_tokens is None else planned + max(0, max_tokens - request.generated)
