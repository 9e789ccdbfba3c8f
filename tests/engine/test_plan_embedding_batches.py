"""plan_embedding_batches: in order, bounded by tokens and sequences, oversized documents set aside."""

from __future__ import annotations

import pytest

from paddler.engine.plan_embedding_batches import plan_embedding_batches


def test_packs_greedily_in_order() -> None:
    plan = plan_embedding_batches([30, 30, 30, 50, 10], n_batch=64, max_sequences=8)
    assert plan.batches == ((0, 1), (2,), (3, 4))
    assert plan.oversized == ()


def test_sequence_limit() -> None:
    plan = plan_embedding_batches([1] * 5, n_batch=64, max_sequences=2)
    assert plan.batches == ((0, 1), (2, 3), (4,))


def test_oversized_documents_are_reported_and_skipped() -> None:
    plan = plan_embedding_batches([10, 100, 64, 65], n_batch=64, max_sequences=4)
    assert plan.oversized == (1, 3)
    assert plan.batches == ((0,), (2,))


def test_documents_longer_than_the_training_context_are_set_aside_too() -> None:
    plan = plan_embedding_batches([10, 64, 65, 40, 30], n_batch=128, max_sequences=4, max_document_tokens=64)
    assert plan.oversized == (2,)
    assert plan.batches == ((0, 1, 3), (4,))


def test_every_document_lands_exactly_once() -> None:
    counts = [(index * 37) % 90 + 1 for index in range(200)]
    plan = plan_embedding_batches(counts, n_batch=80, max_sequences=7)
    placed = [index for batch in plan.batches for index in batch] + list(plan.oversized)
    assert sorted(placed) == list(range(200))
    for batch in plan.batches:
        assert sum(counts[index] for index in batch) <= 80
        assert len(batch) <= 7


def test_empty_input_and_bad_limits() -> None:
    assert plan_embedding_batches([], n_batch=8, max_sequences=2).batches == ()
    with pytest.raises(ValueError, match="positive"):
        plan_embedding_batches([1], n_batch=0, max_sequences=1)
