"""Texts embedded as one batch for the OpenAI-shaped routes (embeddings, rerank): each text's pooled
vector in order, or the OpenAI error of what went wrong."""

from __future__ import annotations

from collections.abc import Sequence

from flask import request

from paddler.engine.engine_errors import EngineUnavailableError
from paddler.messages.embedding_normalization import EmbeddingNormalization
from paddler.messages.embedding_result import DocumentEmbedding, DocumentExceedsBatchSize
from paddler.messages.generate_embedding_batch_params import EmbeddingDocument, GenerateEmbeddingBatchParams
from paddler.messages.request_rejected import RequestRejected
from paddler.web.openai.error import OpenAIError
from paddler.web.shared.paddler_services import PaddlerServices
from paddler.web.shared.result_following import follow


def embed_texts(
    services: PaddlerServices, texts: Sequence[str], normalization: EmbeddingNormalization, param: str
) -> list[DocumentEmbedding]:
    """Raises OpenAIError: 400 naming `param` for a text too long for a batch, 503 while not serving."""
    documents = tuple(EmbeddingDocument(str(index), text) for index, text in enumerate(texts))
    try:
        stream = services.submit_embeddings(GenerateEmbeddingBatchParams(documents, normalization))
    except EngineUnavailableError as error:
        raise OpenAIError(503, str(error)) from None
    vectors: dict[int, DocumentEmbedding] = {}
    for result in follow(stream, request.environ):
        if isinstance(result, DocumentEmbedding):
            vectors[int(result.source_document_id)] = result
        elif isinstance(result, DocumentExceedsBatchSize):
            raise OpenAIError(
                400,
                f"{param} {result.source_document_id} has {result.document_tokens} tokens; "
                f"at most {result.n_batch} fit",
                param=param,
            )
        elif isinstance(result, RequestRejected):
            raise OpenAIError(result.code if result.code in (503, 504) else 500, result.description)
    if len(vectors) != len(texts):
        raise OpenAIError(500, f"not every {param} was embedded")
    return [vectors[index] for index in range(len(texts))]
