"""Slot choice for a new request: the free slot whose cache can keep the most of its prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlotChoice:
    slot_index: int
    # Prompt tokens whose cache can be kept (engine/prefix_reuse.py decides how many).
    reusable_tokens: int


def choose_slot(free_slots: Sequence[tuple[int, int, float]]) -> SlotChoice | None:
    """free_slots: (slot index, reusable tokens, last used time). Most reusable tokens win; among
    equals, the least recently used slot, so fresh requests do not wipe a useful cache."""
    best: tuple[int, float, int] | None = None
    for slot_index, reusable, last_used in free_slots:
        candidate = (reusable, -last_used, slot_index)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return None
    return SlotChoice(slot_index=best[2], reusable_tokens=max(best[0], 0))
