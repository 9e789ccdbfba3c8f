"""POST /api/v1/generate_embedding_batch: one embedding per document, as NDJSON, then one Done."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Response

from paddler.engine.engine_errors import EngineUnavailableError
from paddler.messages.embedding_normalization import (
    L2_NORMALIZATION,
    NO_NORMALIZATION,
    EmbeddingNormalization,
    NormalizationKind,
)
from paddler.messages.generate_embedding_batch_params import EmbeddingDocument, GenerateEmbeddingBatchParams
from paddler.web.inference.ndjson_stream import ndjson_response
from paddler.web.inference.wire_params import WireEmbeddingBatchParams
from paddler.web.inference.wire_results import embedding_result_line
from paddler.web.shared.api_error import ApiError, parse_json_body
from paddler.web.shared.paddler_services import current_services
from paddler.web.shared.request_id import new_request_id

blueprint = Blueprint("generate_embedding_batch", __name__)

EMBEDDINGS_DISABLED = "Embedding generation is not enabled in the inference parameters"
MAX_DOCUMENTS = 10_000


def _normalization(params: WireEmbeddingBatchParams) -> EmbeddingNormalization:
    method = params.normalization_method
    if method == "L2":
        return L2_NORMALIZATION
    if method == "None":
        return NO_NORMALIZATION
    return EmbeddingNormalization(NormalizationKind.RMS_NORM, method.RmsNorm.epsilon)


@blueprint.post("/api/v1/generate_embedding_batch")
def post_generate_embedding_batch() -> Response:
    services = current_services()
    if not services.engine.settings.enable_embeddings:
        raise ApiError(501, EMBEDDINGS_DISABLED)
    params = parse_json_body(WireEmbeddingBatchParams)
    if len(params.input_batch) > MAX_DOCUMENTS:
        raise ApiError(413, f"input_batch holds more than {MAX_DOCUMENTS} documents")
    documents = tuple(EmbeddingDocument(document.id, document.content) for document in params.input_batch)
    request_id = new_request_id()
    try:
        stream = services.submit_embeddings(GenerateEmbeddingBatchParams(documents, _normalization(params)))
    except EngineUnavailableError as error:
        raise ApiError(503, str(error)) from None
    return ndjson_response(stream, partial(embedding_result_line, request_id, services.name))
