"""Packs tokenized documents into decode batches: in order, at most n_batch tokens and at most
max_sequences documents per batch; a document longer than n_batch (or than max_document_tokens) is set
aside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EmbeddingBatchPlan:
    # Each inner tuple lists document indices decoded together.
    batches: tuple[tuple[int, ...], ...]
    oversized: tuple[int, ...]


def plan_embedding_batches(
    token_counts: Sequence[int], n_batch: int, max_sequences: int, max_document_tokens: int | None = None
) -> EmbeddingBatchPlan:
    if n_batch < 1 or max_sequences < 1:
        raise ValueError("n_batch and max_sequences must be positive")
    document_limit = n_batch if max_document_tokens is None else min(n_batch, max_document_tokens)
    batches: list[tuple[int, ...]] = []
    oversized: list[int] = []
    current: list[int] = []
    current_tokens = 0
    for document_index, count in enumerate(token_counts):
        if count > document_limit:
            oversized.append(document_index)
            continue
        if current and (current_tokens + count > n_batch or len(current) == max_sequences):
            batches.append(tuple(current))
            current, current_tokens = [], 0
        current.append(document_index)
        current_tokens += count
    if current:
        batches.append(tuple(current))
    return EmbeddingBatchPlan(tuple(batches), tuple(oversized))
