"""A validated request for embeddings of a batch of documents."""

from __future__ import annotations

from dataclasses import dataclass

from paddler.messages.embedding_normalization import EmbeddingNormalization


@dataclass(frozen=True, slots=True)
class EmbeddingDocument:
    id: str
    content: str


@dataclass(frozen=True, slots=True)
class GenerateEmbeddingBatchParams:
    documents: tuple[EmbeddingDocument, ...]
    normalization: EmbeddingNormalization
