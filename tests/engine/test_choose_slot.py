"""choose_slot: the free slot with the longest reusable prefix, least recently used on ties."""

from __future__ import annotations

from paddler.engine.choose_slot import choose_slot, common_prefix_length


def test_common_prefix_length() -> None:
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2


def test_longest_prefix_wins() -> None:
    free = [(0, [1, 2], 5.0), (1, [1, 2, 3, 4], 1.0), (2, [9], 0.0)]
    choice = choose_slot(free, [1, 2, 3, 4, 5, 6])
    assert choice is not None
    assert (choice.slot_index, choice.reusable_tokens) == (1, 4)


def test_identical_prompt_keeps_one_token_to_decode() -> None:
    choice = choose_slot([(0, [1, 2, 3], 0.0)], [1, 2, 3])
    assert choice is not None
    assert choice.reusable_tokens == 2


def test_ties_go_to_the_least_recently_used_slot() -> None:
    choice = choose_slot([(0, [], 9.0), (1, [], 3.0), (2, [7, 7], 1.0)], [1, 2])
    assert choice is not None
    assert choice.slot_index == 2
    assert choice.reusable_tokens == 0


def test_no_free_slot() -> None:
    assert choose_slot([], [1, 2]) is None
