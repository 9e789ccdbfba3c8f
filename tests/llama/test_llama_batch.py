"""LlamaBatch: bulk fills, capacity and value checks; no model needed."""

from __future__ import annotations

import numpy
import pytest

from paddler.llama import InvalidParameterError, LlamaBatch


def test_fill_many_sequences_in_one_call() -> None:
    with LlamaBatch(8) as batch:
        first = batch.fill(numpy.array([5, 6, 7], dtype=numpy.int32), [10, 20, 30], [0, 1, 2], [True, False, True])
        assert first == 0
        assert batch.n_tokens == 3
        assert batch.max_token == 7
        assert batch.max_seq_id == 2
        last = batch.add_sequence([1, 2, 3], 4, 3, output_last=True)
        assert last == 5
        assert batch.n_tokens == 6
        batch.clear()
        assert batch.n_tokens == 0
        assert batch.max_token == -1


@pytest.mark.parametrize("capacity", [0, -1, 2**25])
def test_capacity_is_range_checked(capacity: int) -> None:
    with pytest.raises(InvalidParameterError, match="capacity"):
        LlamaBatch(capacity)


def test_overflow_is_refused_and_leaves_the_batch_unchanged() -> None:
    with LlamaBatch(4) as batch:
        batch.add_sequence([1, 2, 3], 0, 0)
        with pytest.raises(InvalidParameterError, match="do not fit"):
            batch.add_sequence([4, 5], 3, 0)
        assert batch.n_tokens == 3


@pytest.mark.parametrize(
    ("tokens", "positions", "seq_ids"),
    [
        ([-1], [0], [0]),
        ([1], [-5], [0]),
        ([1], [0], [-2]),
    ],
)
def test_negative_values_are_refused(tokens: list[int], positions: list[int], seq_ids: list[int]) -> None:
    with LlamaBatch(4) as batch:
        with pytest.raises(InvalidParameterError, match="negative"):
            batch.fill(tokens, positions, seq_ids, [True])
        assert batch.n_tokens == 0


def test_mismatched_lengths_are_refused() -> None:
    with LlamaBatch(4) as batch, pytest.raises(InvalidParameterError, match="one length"):
        batch.fill([1, 2], [0], [0, 0], [True, True])


def test_a_token_can_belong_to_several_sequences() -> None:
    with LlamaBatch(4, n_seq_per_token=3) as batch:
        batch.add(1, 0, [0, 1, 2], output=True)
        with pytest.raises(InvalidParameterError, match="sequences"):
            batch.add(1, 0, [0, 1, 2, 3])


def test_close_twice_and_use_after_close() -> None:
    batch = LlamaBatch(2)
    batch.close()
    batch.close()
    with pytest.raises(InvalidParameterError, match="closed"):
        batch.add(1, 0, 0)


def test_add_token_is_the_one_token_fast_path() -> None:
    with LlamaBatch(2) as batch:
        assert batch.add_token(7, 3, 1) == 0
        assert (batch.n_tokens, batch.max_token, batch.max_seq_id) == (1, 7, 1)
        with pytest.raises(InvalidParameterError, match="negative"):
            batch.add_token(-1, 0, 0)
        batch.add_token(1, 4, 1, output=False)
        with pytest.raises(InvalidParameterError, match="do not fit"):
            batch.add_token(1, 5, 1)
