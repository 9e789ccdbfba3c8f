"""reusable_prefix: how much of a slot's cache a new prompt keeps, for each kind of model memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paddler.engine.prefix_reuse import (
    ATTENTION_ONLY,
    MemoryKind,
    SequenceMemory,
    common_prefix_length,
    reusable_prefix,
    sequence_memory,
)

SLIDING = SequenceMemory(MemoryKind.SLIDING_WINDOW, window=4)
RECURRENT = SequenceMemory(MemoryKind.RECURRENT)
HYBRID = SequenceMemory(MemoryKind.HYBRID)
CACHED = [1, 2, 3, 4, 5, 6, 7, 8]


def test_common_prefix_length() -> None:
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2
    assert common_prefix_length([1, 2], (1, 2, 3)) == 2  # a prompt may come as a tuple


def _first_difference(first: list[int], second: list[int]) -> int:
    return next(
        (index for index, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), min(len(first), len(second))
    )


@given(
    st.lists(st.integers(0, 2), max_size=600),
    st.lists(st.integers(0, 2), max_size=600),
    st.lists(st.integers(0, 2), max_size=600),
    st.booleans(),
)
def test_common_prefix_length_finds_the_first_difference(
    opening: list[int], first: list[int], second: list[int], as_tuple: bool
) -> None:
    """Sequences over three tokens with a shared opening: differences at every depth, and ties."""
    one, other = opening + first, opening + second
    assert common_prefix_length(one, tuple(other) if as_tuple else other) == _first_difference(one, other)


def test_the_model_says_which_memory_it_has() -> None:
    assert sequence_memory(is_recurrent=False, is_hybrid=False, n_swa=0) == ATTENTION_ONLY
    assert sequence_memory(is_recurrent=False, is_hybrid=False, n_swa=512) == SequenceMemory(
        MemoryKind.SLIDING_WINDOW, 512
    )
    assert sequence_memory(is_recurrent=True, is_hybrid=False, n_swa=0) == RECURRENT
    assert sequence_memory(is_recurrent=False, is_hybrid=True, n_swa=0) == HYBRID
    assert not RECURRENT.can_cut
    assert not HYBRID.can_cut
    assert ATTENTION_ONLY.can_cut
    assert SLIDING.can_cut


def test_attention_keeps_the_common_prefix() -> None:
    assert reusable_prefix(ATTENTION_ONLY, CACHED, [1, 2, 3, 9, 9]) == 3
    assert reusable_prefix(ATTENTION_ONLY, CACHED, [*CACHED, 9]) == 8
    assert reusable_prefix(ATTENTION_ONLY, CACHED, [7, 7]) == 0
    assert reusable_prefix(ATTENTION_ONLY, [], [1, 2]) == 0


def test_one_prompt_token_is_always_left_to_decode() -> None:
    for memory in (ATTENTION_ONLY, SLIDING):
        assert reusable_prefix(memory, CACHED, CACHED) == 7
        assert reusable_prefix(memory, CACHED, [1]) == 0
    assert reusable_prefix(ATTENTION_ONLY, CACHED, []) == 0


def test_a_sliding_window_keeps_a_prefix_only_while_the_window_before_it_is_held() -> None:
    # Every cell still held: the window constraint is met whatever the prefix.
    assert reusable_prefix(SLIDING, CACHED, [1, 2, 3, 4, 5, 6, 9], first_cached_position=0) == 6
    # Cells below position 2 were overwritten: decoding position 6 needs 2.. (window 4), still held.
    assert reusable_prefix(SLIDING, CACHED, [1, 2, 3, 4, 5, 6, 9], first_cached_position=2) == 6
    # Cutting back to 5 would need position 1, which is gone: a full prefill instead.
    assert reusable_prefix(SLIDING, CACHED, [1, 2, 3, 4, 5, 9], first_cached_position=2) == 0
    # A prefix shorter than the window needs position 0 itself.
    assert reusable_prefix(SLIDING, CACHED, [1, 2, 9], first_cached_position=1) == 0
    assert reusable_prefix(SLIDING, CACHED, [1, 2, 9], first_cached_position=0) == 2


def test_the_window_is_ignored_without_one() -> None:
    assert reusable_prefix(ATTENTION_ONLY, CACHED, [1, 2, 3, 9], first_cached_position=5) == 3


def test_a_recurrent_state_is_kept_only_whole() -> None:
    for memory in (RECURRENT, HYBRID):
        # The whole cache is a prefix of the prompt: nothing to cut, the state carries on.
        assert reusable_prefix(memory, CACHED, [*CACHED, 9, 10]) == 8
        # Any cut is impossible: a full prefill.
        assert reusable_prefix(memory, CACHED, [1, 2, 3, 9]) == 0
        assert reusable_prefix(memory, CACHED, [*CACHED[:7], 9]) == 0
        # The same prompt again would need its last token decoded once more, which needs a cut.
        assert reusable_prefix(memory, CACHED, CACHED) == 0
        assert reusable_prefix(memory, [], [1, 2]) == 0


def test_a_hybrid_with_a_sliding_window_obeys_both() -> None:
    hybrid = SequenceMemory(MemoryKind.HYBRID, window=4)
    assert reusable_prefix(hybrid, CACHED, [*CACHED, 9], first_cached_position=4) == 8
    assert reusable_prefix(hybrid, CACHED, [*CACHED, 9], first_cached_position=5) == 0
