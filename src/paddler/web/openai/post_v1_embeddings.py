"""POST /v1/embeddings: OpenAI's embeddings API (a string or a list of strings; float or base64),
L2-normalized as OpenAI's vectors are. Paddler has no such endpoint."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from paddler.engine.engine_errors import EngineUnavailableError
from paddler.messages.embedding_normalization import L2_NORMALIZATION
from paddler.messages.embedding_result import DocumentEmbedding, DocumentExceedsBatchSize
from paddler.messages.generate_embedding_batch_params import EmbeddingDocument, GenerateEmbeddingBatchParams
from paddler.messages.request_rejected import RequestRejected
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.request import check_model, parse_openai_body
from paddler.web.shared.paddler_services import current_services
from paddler.web.shared.result_following import follow

blueprint = Blueprint("openai_embeddings", __name__)
MAX_INPUTS = 2048


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    input: str | Annotated[list[str], Field(min_length=1, max_length=MAX_INPUTS)]
    encoding_format: Literal["float", "base64"] = "float"


def _encode(vector: DocumentEmbedding, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.embedding.astype("<f4").tobytes()).decode()
    result: list[float] = vector.embedding.tolist()
    return result


@blueprint.post("/v1/embeddings")
def post_embeddings() -> Response:
    parsed = parse_openai_body(EmbeddingsRequest)
    services = current_services()
    check_model(parsed.model, services)
    if not services.engine.settings.enable_embeddings:
        raise OpenAIError(501, "embeddings are not enabled on this server (paddler serve --enable-embeddings)")
    texts = [parsed.input] if isinstance(parsed.input, str) else parsed.input
    documents = tuple(EmbeddingDocument(str(index), text) for index, text in enumerate(texts))
    try:
        stream = services.submit_embeddings(GenerateEmbeddingBatchParams(documents, L2_NORMALIZATION))
    except EngineUnavailableError as error:
        raise OpenAIError(503, str(error)) from None
    vectors: dict[int, DocumentEmbedding] = {}
    for result in follow(stream, request.environ):
        if isinstance(result, DocumentEmbedding):
            vectors[int(result.source_document_id)] = result
        elif isinstance(result, DocumentExceedsBatchSize):
            raise OpenAIError(
                400,
                f"input {result.source_document_id} has {result.document_tokens} tokens; at most {result.n_batch} fit",
                param="input",
            )
        elif isinstance(result, RequestRejected):
            raise OpenAIError(result.code if result.code in (503, 504) else 500, result.description)
    if len(vectors) != len(texts):
        raise OpenAIError(500, "not every input was embedded")
    prompt_tokens = sum(vector.token_count for vector in vectors.values())
    return jsonify(
        {
            "object": "list",
            "model": parsed.model,
            "data": [
                {"object": "embedding", "index": index, "embedding": _encode(vectors[index], parsed.encoding_format)}
                for index in range(len(texts))
            ],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
