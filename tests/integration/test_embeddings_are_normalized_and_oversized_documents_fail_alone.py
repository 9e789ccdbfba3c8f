"""Embedding batches: one result per document, normalized as asked; an oversized document errors alone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy

from paddler.messages.embedding_normalization import (
    L2_NORMALIZATION,
    NO_NORMALIZATION,
    EmbeddingNormalization,
    NormalizationKind,
)
from paddler.messages.embedding_result import (
    DocumentEmbedding,
    DocumentExceedsBatchSize,
    EmbeddingsDone,
    NoEmbeddingsProduced,
)
from paddler.messages.generate_embedding_batch_params import EmbeddingDocument, GenerateEmbeddingBatchParams
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, wait_for

DOCUMENTS = tuple(
    EmbeddingDocument(str(index), f"Document number {index} talks about topic {index * 7}.") for index in range(12)
)


def _embeddings(results: Sequence[object]) -> dict[str, DocumentEmbedding]:
    return {result.source_document_id: result for result in results if isinstance(result, DocumentEmbedding)}


def test_every_document_gets_its_vector_with_unit_l2_norm(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_embeddings=True, embedding_batch_sequences=4, pooling_type="mean")
    results = list(engine.submit_embeddings(GenerateEmbeddingBatchParams(DOCUMENTS, L2_NORMALIZATION)))
    assert isinstance(results[-1], EmbeddingsDone)
    embeddings = _embeddings(results)
    assert sorted(embeddings, key=int) == [document.id for document in DOCUMENTS]
    for embedding in embeddings.values():
        assert embedding.embedding.shape == (576,)
        assert abs(numpy.linalg.norm(embedding.embedding) - 1.0) < 1e-4
        assert embedding.normalization == L2_NORMALIZATION


def test_rms_and_no_normalization(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_embeddings=True, enable_generation=False)
    documents = DOCUMENTS[:3]
    raw = _embeddings(list(engine.submit_embeddings(GenerateEmbeddingBatchParams(documents, NO_NORMALIZATION))))
    rms_method = EmbeddingNormalization(NormalizationKind.RMS_NORM, 0.0)
    rms = _embeddings(list(engine.submit_embeddings(GenerateEmbeddingBatchParams(documents, rms_method))))
    for document in documents:
        vector = rms[document.id].embedding
        assert abs(float(numpy.sqrt(numpy.mean(vector.astype(numpy.float64) ** 2))) - 1.0) < 1e-4
        assert abs(numpy.linalg.norm(raw[document.id].embedding) - 1.0) > 1e-2, "None leaves the vector as is"


def test_identical_documents_get_identical_vectors(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_embeddings=True)
    documents = (EmbeddingDocument("a", "same text"), EmbeddingDocument("b", "same text"))
    embeddings = _embeddings(list(engine.submit_embeddings(GenerateEmbeddingBatchParams(documents, L2_NORMALIZATION))))
    assert numpy.allclose(embeddings["a"].embedding, embeddings["b"].embedding, atol=1e-5)


def test_an_oversized_document_errors_alone(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_embeddings=True, n_batch=64, n_ubatch=64, slots=2)
    documents = (EmbeddingDocument("small", "short text"), EmbeddingDocument("huge", "word " * 200))
    results = list(engine.submit_embeddings(GenerateEmbeddingBatchParams(documents, L2_NORMALIZATION)))
    oversized = [result for result in results if isinstance(result, DocumentExceedsBatchSize)]
    assert len(oversized) == 1
    assert oversized[0].source_document_id == "huge"
    assert oversized[0].document_tokens > 64
    assert oversized[0].n_batch == 64
    assert list(_embeddings(results)) == ["small"]
    assert isinstance(results[-1], EmbeddingsDone)


def test_all_oversized_reports_no_embeddings_then_done(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_embeddings=True, n_batch=32, n_ubatch=32, slots=2)
    documents = (EmbeddingDocument("x", "word " * 100), EmbeddingDocument("y", "word " * 100))
    results = list(engine.submit_embeddings(GenerateEmbeddingBatchParams(documents, L2_NORMALIZATION)))
    assert [type(result) for result in results] == [
        DocumentExceedsBatchSize,
        DocumentExceedsBatchSize,
        NoEmbeddingsProduced,
        EmbeddingsDone,
    ]


def test_generation_and_embeddings_run_side_by_side(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_embeddings=True, slots=2)
    generation = engine.submit_generation(
        GenerateTokensParams(chat_prompt("What is the capital of France?"), 24, GREEDY)
    )
    embeddings = engine.submit_embeddings(GenerateEmbeddingBatchParams(DOCUMENTS[:4], L2_NORMALIZATION))
    assert len(_embeddings(list(embeddings))) == 4
    assert isinstance(list(generation)[-1], GenerationDone)


def test_a_batch_whose_reader_leaves_is_cancelled_not_completed(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_embeddings=True, embedding_batch_sequences=1)
    stream = engine.submit_embeddings(GenerateEmbeddingBatchParams(DOCUMENTS * 20, L2_NORMALIZATION))
    assert isinstance(stream.get(timeout=30), DocumentEmbedding)
    stream.close()
    assert wait_for(lambda: engine.stats().slots_processing == 0)
    stats = engine.stats()
    assert (stats.requests_cancelled, stats.requests_completed) == (1, 0)
