"""choose_slot: the free slot that keeps the most prompt tokens, least recently used on ties (the lowest
index with a KV stream per slot), unless it would lose more of its cache than it keeps while an empty slot
is free."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paddler.engine.choose_slot import FreeSlot, choose_slot


def _chosen(slots: list[FreeSlot]) -> tuple[int, int]:
    """The chosen slot's index and the prompt tokens it keeps."""
    choice = choose_slot(slots)
    assert choice is not None
    return choice.slot_index, choice.reusable_tokens


def test_most_reusable_tokens_win() -> None:
    assert _chosen([FreeSlot(0, 2, 2, 5.0), FreeSlot(1, 4, 6, 1.0), FreeSlot(2, 0, 0, 0.0)]) == (1, 4)


def test_ties_go_to_the_least_recently_used_slot() -> None:
    assert _chosen([FreeSlot(0, 0, 0, 9.0), FreeSlot(1, 0, 0, 3.0), FreeSlot(2, 0, 0, 1.0)]) == (2, 0)


def test_with_a_kv_stream_per_slot_ties_go_to_the_lowest_slot() -> None:
    """So running requests stay on adjacent sequence ids, which llama.cpp decodes in one micro-batch."""
    slots = [FreeSlot(5, 3, 4, 1.0), FreeSlot(2, 3, 5, 9.0), FreeSlot(0, 1, 4, 0.0), FreeSlot(7, 0, 0, 0.5)]
    choice = choose_slot(slots, lowest_first=True)
    assert choice is not None
    assert (choice.slot_index, choice.reusable_tokens) == (2, 3)
    assert _chosen(slots) == (5, 3)


def test_a_few_shared_opening_tokens_do_not_wipe_another_conversations_cache() -> None:
    # Slot 0 holds a 14-token conversation that shares its first 2 tokens with the new prompt.
    assert _chosen([FreeSlot(0, 2, 14, 1.0), FreeSlot(1, 0, 0, 5.0)]) == (1, 0)


def test_a_follow_up_takes_its_conversations_slot() -> None:
    assert _chosen([FreeSlot(0, 0, 0, 1.0), FreeSlot(1, 120, 120, 9.0), FreeSlot(2, 30, 200, 0.5)]) == (1, 120)


def test_with_every_slot_holding_a_cache_the_one_that_keeps_most_is_taken() -> None:
    assert _chosen([FreeSlot(0, 2, 14, 1.0), FreeSlot(1, 3, 40, 5.0)]) == (1, 3)


def test_no_free_slot() -> None:
    assert choose_slot([]) is None


@st.composite
def free_slots(draw: st.DrawFn) -> list[FreeSlot]:
    count = draw(st.integers(1, 8))
    slots = []
    for index in range(count):
        cached = draw(st.integers(0, 50))
        reusable = draw(st.integers(0, cached))
        slots.append(FreeSlot(index, reusable, cached, draw(st.floats(0, 100))))
    return slots


@given(free_slots(), st.booleans())
def test_a_cache_is_lost_for_less_than_it_keeps_only_when_no_slot_is_empty(
    slots: list[FreeSlot], lowest_first: bool
) -> None:
    choice = choose_slot(slots, lowest_first=lowest_first)
    assert choice is not None
    chosen = slots[choice.slot_index]
    assert choice.reusable_tokens == chosen.reusable_tokens
    if not chosen.keeps_more_than_it_loses and chosen.cached_tokens > 0:
        assert all(slot.cached_tokens > 0 and not slot.keeps_more_than_it_loses for slot in slots)
    # Nothing a worthwhile slot would keep is given up for less.
    worth = [slot.reusable_tokens for slot in slots if slot.keeps_more_than_it_loses]
    if worth:
        assert chosen.reusable_tokens == max(worth)
