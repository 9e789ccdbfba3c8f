"""POST /v1/embeddings: OpenAI's embeddings API (a string or a list of strings; float or base64),
L2-normalized as OpenAI's vectors are. Paddler has no such endpoint."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from paddler.messages.embedding_normalization import L2_NORMALIZATION
from paddler.messages.embedding_result import DocumentEmbedding
from paddler.web.openai.embedding_batch import embed_texts
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.request import check_model, parse_openai_body
from paddler.web.shared.paddler_services import current_services

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
    vectors = embed_texts(services, texts, L2_NORMALIZATION, "input")
    prompt_tokens = sum(vector.token_count for vector in vectors)
    return jsonify(
        {
            "object": "list",
            "model": parsed.model,
            "data": [
                {"object": "embedding", "index": index, "embedding": _encode(vector, parsed.encoding_format)}
                for index, vector in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
