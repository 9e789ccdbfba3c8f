"""Requests that share a prompt prefix another slot holds: one prefill of a common system prompt for
every slot.

When a request starts, the slot cache finds the longest prefix of its prompt that another slot holds
or is prefilling (engine/prefix_tree.py). Held now, the request's sequence takes its cells at once
(llama_memory_seq_cp: in one KV pool only metadata; a cell lives while any sequence holds it) and only
the rest of the prompt is prefilled. Still being prefilled (requests that start in the same step with a
common prefix), the request waits, unscheduled, until the source holds it; so the common part is
prefilled once and fanned out. A request only waits for one that does not wait itself, so waits never
chain or loop; when the source's request ends first, the request looks again, else prefills it all."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from paddler.engine.active_request import ActiveRequest
from paddler.engine.slot import Slot
from paddler.engine.slot_cache import SlotCache


def settle_awaited_prefix(request: ActiveRequest, slot_cache: SlotCache, waiting: Collection[Slot]) -> int:
    """Take the request's awaited prefix when its source holds it. Returns the tokens shared (0 while it
    still waits, or when it gave up and prefills its whole prompt). `waiting`: the slots of the other
    requests that wait."""
    shared = request.awaited
    if shared is None or (shared.coming and not shared.ready):
        return 0
    if not shared.ready:
        shared = slot_cache.shared_prefix(request.slot, request.command.prompt_tokens, waiting)
        request.awaited = shared
        if shared is None or not shared.ready:
            return 0
    media = request.command.media
    if media is not None and media.image_edge(shared.length) < shared.length:
        # A shared prefix may not end inside an image: take it up to the image's start.
        shared = replace(shared, length=media.image_edge(shared.length))
        if shared.length == 0:
            request.awaited = None
            return 0
    slot_cache.share(request.slot, shared)
    request.awaited = None
    request.pending = list(request.command.prompt_tokens[shared.length :])
    request.cached_prompt_tokens = shared.length
    return shared.length
