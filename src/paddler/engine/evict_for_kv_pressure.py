"""Room in the KV cache when a generation decode found none: the cached prefix of the least recently
used idle slot goes first; only when no idle slot holds any is a running request evicted, the one that
holds the most positions (Paddler's rule)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from paddler.engine.active_request import ActiveRequest
from paddler.engine.slot_cache import SlotCache
from paddler.messages.generated_token_result import GenerationErrorKind, GenerationFailed

logger = logging.getLogger(__name__)
EVICTED = GenerationFailed(GenerationErrorKind.SAMPLER_ERROR, "Request evicted due to KV cache pressure")


def evict_for_kv_pressure(slot_cache: SlotCache, running: Iterable[ActiveRequest]) -> ActiveRequest | None:
    """Free KV cells. None when an idle slot's cache made the room; else the evicted request, its
    sequence already dropped, for the caller to end with EVICTED."""
    if slot_cache.drop_coldest_idle():
        return None
    victim = max(running, key=lambda request: request.position + len(request.pending))
    slot_cache.forget(victim.slot)
    logger.warning("evicting request %r (%d positions) under KV cache pressure", victim.request_id, victim.position)
    return victim
