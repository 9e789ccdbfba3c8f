"""What an embedding-batch stream carries: one result per document, then exactly one terminal result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy
import numpy.typing

from paddler.messages.embedding_normalization import EmbeddingNormalization
from paddler.messages.request_rejected import RequestRejected


@dataclass(frozen=True, slots=True)
class DocumentEmbedding:
    source_document_id: str
    embedding: numpy.typing.NDArray[numpy.float32]
    normalization: EmbeddingNormalization
    pooling_type: str
    # Tokens the document took, BOS included.
    token_count: int = 0

    @property
    def is_terminal(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class DocumentExceedsBatchSize:
    source_document_id: str
    document_tokens: int
    n_batch: int

    @property
    def is_terminal(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class NoEmbeddingsProduced:
    """Every document was skipped; the stream still ends with EmbeddingsDone."""

    @property
    def is_terminal(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class EmbeddingsDone:
    @property
    def is_terminal(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class EmbeddingsDisabled:
    @property
    def is_terminal(self) -> bool:
        return True


EmbeddingResult = (
    DocumentEmbedding
    | DocumentExceedsBatchSize
    | NoEmbeddingsProduced
    | EmbeddingsDone
    | EmbeddingsDisabled
    | RequestRejected
)
