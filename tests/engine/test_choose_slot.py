"""choose_slot: the free slot that keeps the most prompt tokens, least recently used on ties."""

from __future__ import annotations

from paddler.engine.choose_slot import choose_slot


def test_most_reusable_tokens_win() -> None:
    choice = choose_slot([(0, 2, 5.0), (1, 4, 1.0), (2, 0, 0.0)])
    assert choice is not None
    assert (choice.slot_index, choice.reusable_tokens) == (1, 4)


def test_ties_go_to_the_least_recently_used_slot() -> None:
    choice = choose_slot([(0, 0, 9.0), (1, 0, 3.0), (2, 0, 1.0)])
    assert choice is not None
    assert (choice.slot_index, choice.reusable_tokens) == (2, 0)


def test_no_free_slot() -> None:
    assert choose_slot([]) is None
