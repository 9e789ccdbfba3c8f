"""What each generation slot is doing, as the engine thread last published it for other threads to read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from paddler.engine.active_request import ActiveRequest
from paddler.engine.request_phase import RequestPhase
from paddler.engine.slot import Slot


@dataclass(frozen=True, slots=True)
class SlotActivity:
    index: int
    # "idle", "prompt" (its prompt is being read) or "generating".
    phase: str
    # Of the request in the slot; 0 while idle.
    prompt_tokens: int
    prompt_processed: int
    generated_tokens: int
    # Busy: prompt tokens reused from the slot's cache; idle: tokens its cache keeps for the next prompt.
    cached_prefix: int


def describe_slots(slots: Sequence[Slot], requests: Iterable[ActiveRequest]) -> tuple[SlotActivity, ...]:
    by_slot = {request.slot.seq_id: request for request in requests}
    activities = []
    for slot in slots:
        request = by_slot.get(slot.seq_id)
        if request is None:
            activities.append(SlotActivity(slot.seq_id, "idle", 0, 0, 0, len(slot.cached_tokens)))
            continue
        prompt = len(request.command.prompt_tokens)
        generating = request.phase is RequestPhase.GENERATING
        processed = prompt if generating else prompt - len(request.pending)
        activities.append(
            SlotActivity(
                slot.seq_id,
                "generating" if generating else "prompt",
                prompt,
                processed,
                request.generated,
                request.cached_prompt_tokens,
            )
        )
    return tuple(activities)
