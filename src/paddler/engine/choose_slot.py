"""Slot choice for a new request: the free slot whose cache keeps the most of its prompt, unless taking it
would throw away more of a cache than it keeps while an empty slot is free.

A slot's cache is the prefix of the conversation it served last; a request that shares only a few
opening tokens with it (a chat template's header, a word of a system prompt) would keep those and erase
the rest, and the conversation that comes back next finds nothing. llama-server keeps a cache unless a
prompt is similar enough to it; here the rule is what a slot keeps against what it loses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def keeps_more_than_it_loses(reusable_tokens: int, cached_tokens: int) -> bool:
    """Whether a prompt that keeps `reusable_tokens` of a cache of `cached_tokens` keeps at least half."""
    return 2 * reusable_tokens >= cached_tokens


@dataclass(frozen=True, slots=True)
class FreeSlot:
    slot_index: int
    # Prompt tokens whose cache can be kept (engine/prefix_reuse.py decides how many).
    reusable_tokens: int
    # Tokens the slot's cache holds now (in the KV cache or in host memory).
    cached_tokens: int
    last_used: float

    @property
    def keeps_more_than_it_loses(self) -> bool:
        return self.reusable_tokens > 0 and keeps_more_than_it_loses(self.reusable_tokens, self.cached_tokens)


@dataclass(frozen=True, slots=True)
class SlotChoice:
    slot_index: int
    reusable_tokens: int


def _best(candidates: Sequence[FreeSlot], lowest_first: bool) -> FreeSlot:
    """Most reusable tokens; among equals, the lowest slot index when `lowest_first`, else the least
    recently used slot."""
    if lowest_first:
        return max(candidates, key=lambda slot: (slot.reusable_tokens, -slot.slot_index))
    return max(candidates, key=lambda slot: (slot.reusable_tokens, -slot.last_used, -slot.slot_index))


def choose_slot(free_slots: Sequence[FreeSlot], *, lowest_first: bool = False) -> SlotChoice | None:
    """A slot whose cache the prompt mostly continues; else an empty one; else (every free slot holds a
    cache it would mostly lose) the one that keeps the most. Ties go to the least recently used slot, or
    with `lowest_first` to the lowest index: with a KV stream per slot llama.cpp computes a step in one
    micro-batch per run of consecutive running sequence ids, so running requests kept on low, adjacent
    slots decode in one pass where scattered ones took several (8 streams after a while of varied
    traffic: 58 to 79 tokens/s scattered, 104 to 173 kept low)."""
    if not free_slots:
        return None
    worth_taking = [slot for slot in free_slots if slot.keeps_more_than_it_loses]
    empty = [slot for slot in free_slots if slot.cached_tokens == 0]
    best = _best(worth_taking or empty or free_slots, lowest_first)
    return SlotChoice(slot_index=best.slot_index, reusable_tokens=max(best.reusable_tokens, 0))
