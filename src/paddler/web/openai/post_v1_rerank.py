"""POST /v1/rerank (also /rerank and /v1/reranking), as llama-server answers it: each document's relevance
to the query, by a reranking model (rank pooling: one score per query-document pair), best first."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, Response, jsonify
from pydantic import Field

from paddler.messages.embedding_normalization import NO_NORMALIZATION
from paddler.web.openai.embedding_batch import embed_texts
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.post_v1_embeddings import MAX_INPUTS
from paddler.web.openai.request import Lenient, parse_openai_body, served_model_id
from paddler.web.shared.paddler_services import PaddlerServices, current_services

blueprint = Blueprint("llama_server_rerank", __name__)
CANNOT_RANK = (
    "this server cannot rank: serve a reranking model with --enable-embeddings --pooling-type rank "
    "(its GGUF has a classifier head)"
)


class RerankRequest(Lenient):
    model: str | None = None
    query: str
    documents: Annotated[list[str], Field(min_length=1, max_length=MAX_INPUTS)]
    top_n: Annotated[int, Field(ge=1)] | None = None
    return_text: bool = False


def _pair_separator(services: PaddlerServices) -> str:
    """What joins a query and a document: EOS then SEP, as llama-server writes a pair for a reranker;
    the tokenizer adds BOS (or CLS) before and the closing token after."""
    settings = services.engine.settings
    info = services.serving_engine().model_info
    if not settings.enable_embeddings or settings.pooling_type != "rank" or info is None:
        raise OpenAIError(501, CANNOT_RANK)
    return info.eos_text + info.sep_text


@blueprint.post("/v1/rerank")
@blueprint.post("/v1/reranking")
@blueprint.post("/rerank")
def post_rerank() -> Response:
    asked = parse_openai_body(RerankRequest)
    services = current_services()
    separator = _pair_separator(services)
    pairs = [asked.query + separator + document for document in asked.documents]
    scores = embed_texts(services, pairs, NO_NORMALIZATION, "documents")
    ranked = sorted(enumerate(scores), key=lambda scored: -float(scored[1].embedding[0]))
    results = [
        {
            "index": index,
            "relevance_score": float(score.embedding[0]),
            **({"document": {"text": asked.documents[index]}} if asked.return_text else {}),
        }
        for index, score in ranked[: asked.top_n]
    ]
    tokens = sum(score.token_count for score in scores)
    return jsonify(
        {
            "model": asked.model or served_model_id(services),
            "object": "list",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "results": results,
        }
    )
