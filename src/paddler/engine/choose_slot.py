"""Slot choice for a new request: the free slot whose cached tokens share the longest prefix with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for first_token, second_token in zip(first, second, strict=False):
        if first_token != second_token:
            break
        length += 1
    return length


@dataclass(frozen=True, slots=True)
class SlotChoice:
    slot_index: int
    # Prompt tokens whose KV cache can be kept; always leaves at least one token to decode, because
    # sampling needs the logits of the prompt's last token.
    reusable_tokens: int


def choose_slot(free_slots: Sequence[tuple[int, Sequence[int], float]], prompt: Sequence[int]) -> SlotChoice | None:
    """free_slots: (slot index, cached tokens, last used time). Longest reusable prefix wins; among
    equals, the least recently used slot, so fresh requests do not wipe a useful cache."""
    best: tuple[int, float, int] | None = None
    for slot_index, cached_tokens, last_used in free_slots:
        reusable = min(common_prefix_length(cached_tokens, prompt), len(prompt) - 1)
        candidate = (reusable, -last_used, slot_index)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return None
    return SlotChoice(slot_index=best[2], reusable_tokens=max(best[0], 0))
