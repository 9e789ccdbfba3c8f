"""Stream results and envelopes as Paddler's JSON (serde's externally tagged enums)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from paddler.messages.embedding_normalization import EmbeddingNormalization, NormalizationKind
from paddler.messages.embedding_result import (
    DocumentEmbedding,
    DocumentExceedsBatchSize,
    EmbeddingResult,
    EmbeddingsDisabled,
    EmbeddingsDone,
    NoEmbeddingsProduced,
)
from paddler.messages.generated_token_result import (
    GeneratedToken,
    GeneratedTokenResult,
    GenerationDone,
    GenerationFailed,
    ParsedToolCall,
    TokenLogprob,
    ToolCallEvent,
)
from paddler.messages.request_rejected import RequestRejected
from paddler.web.shared.error_envelope import error_envelope
from paddler.web.shared.request_id import new_request_id

POOLING_WIRE_NAMES = {"none": "None", "mean": "Mean", "cls": "Cls", "last": "Last", "rank": "Rank"}


def normalization_to_wire(normalization: EmbeddingNormalization) -> Any:
    if normalization.kind is NormalizationKind.RMS_NORM:
        return {"RmsNorm": {"epsilon": normalization.epsilon}}
    return normalization.kind.value


def _parsed_call(call: ParsedToolCall) -> dict[str, Any]:
    arguments = (
        {"InvalidJson": call.invalid_arguments} if call.invalid_arguments is not None else {"ValidJson": call.arguments}
    )
    return {"id": call.id, "name": call.name, "arguments": arguments}


def _tool_call_event(event: ToolCallEvent) -> Any:
    if event.kind == "ToolCallParsed":
        return [_parsed_call(call) for call in event.calls]
    if event.kind == "ToolCallValidationFailed":
        return list(event.errors)
    if event.kind == "UnrecognizedToolCallFormat":
        return {"text": event.text, "ffi_error_message": event.errors[0] if event.errors else ""}
    return event.errors[0] if event.errors else ""


def generated_token_payload(
    result: GeneratedToken | ToolCallEvent | GenerationDone | GenerationFailed,
) -> dict[str, Any]:
    match result:
        case ToolCallEvent(kind=kind):
            return {"GeneratedToken": {kind: _tool_call_event(result)}}
        case GeneratedToken(kind=kind, text=text):
            return {"GeneratedToken": {kind.value: text}}
        case GenerationDone(usage=usage):
            return {"GeneratedToken": {"Done": {"usage": asdict(usage)}}}
        case GenerationFailed(kind=kind, message=message):
            return {"GeneratedToken": {kind.value: message}}


def embedding_payload(result: EmbeddingResult) -> dict[str, Any]:
    match result:
        case DocumentEmbedding():
            return {
                "Embedding": {
                    "Embedding": {
                        "embedding": result.embedding.tolist(),
                        "normalization_method": normalization_to_wire(result.normalization),
                        "pooling_type": POOLING_WIRE_NAMES.get(result.pooling_type, result.pooling_type),
                        "source_document_id": result.source_document_id,
                    }
                }
            }
        case DocumentExceedsBatchSize():
            return {
                "Embedding": {
                    "DocumentExceedsBatchSize": {
                        "document_tokens": result.document_tokens,
                        "n_batch": result.n_batch,
                        "source_document_id": result.source_document_id,
                    }
                }
            }
        case NoEmbeddingsProduced():
            return {"Embedding": "NoEmbeddingsProduced"}
        case EmbeddingsDone():
            return {"Embedding": "Done"}
        case EmbeddingsDisabled():
            return {"Embedding": "EmbeddingsDisabled"}
        case RequestRejected():
            raise TypeError("rejections travel in an Error envelope, not a response")


def response_envelope(request_id: str, generated_by: str | None, payload: dict[str, Any]) -> str:
    return json.dumps(
        {"Response": {"generated_by": generated_by, "request_id": request_id, "response": payload}},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def token_result_line(request_id: str, generated_by: str | None, result: GeneratedTokenResult) -> str:
    if isinstance(result, RequestRejected):
        return error_envelope(request_id, result.code, result.description)
    if isinstance(result, TokenLogprob):
        raise TypeError("Paddler's wire format has no log-probabilities; its requests never ask for them")
    return response_envelope(request_id, generated_by, generated_token_payload(result))


def embedding_result_line(request_id: str, generated_by: str | None, result: EmbeddingResult) -> str:
    if isinstance(result, RequestRejected):
        return error_envelope(request_id, result.code, result.description)
    # Paddler's balancer writes the final Done itself: a fresh id and no agent name.
    if isinstance(result, EmbeddingsDone):
        return response_envelope(new_request_id(), None, embedding_payload(result))
    return response_envelope(request_id, generated_by, embedding_payload(result))
