"""POST /v1/chat/completions and GET /v1/models: the OpenAI chat API over the same engine.

Unlike Paddler's compatibility service, per-request sampling, stop strings, max_tokens (legacy and
new), `finish_reason: "length"` and `reasoning_content` are honoured; errors use OpenAI's statuses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError

from paddler.engine.continuous_batch_engine import EngineUnavailableError, RequestTooLargeError
from paddler.engine.result_stream import ResultStream
from paddler.messages.generated_token_result import (
    GeneratedToken,
    GeneratedTokenResult,
    GenerationDone,
    GenerationFailed,
    TokenKind,
)
from paddler.messages.request_rejected import RequestRejected
from paddler.messages.token_usage import TokenUsage
from paddler.web.ndjson_stream import follow
from paddler.web.openai_chat_request import ChatCompletionRequest, chat_generation, served_model_id
from paddler.web.openai_error import OpenAIError, from_validation_error, register_openai_errors
from paddler.web.paddler_services import PaddlerServices, current_services
from paddler.web.stop_strings import StopStrings
from paddler.web.wire_results import new_request_id

blueprint = Blueprint("openai_chat", __name__)
register_openai_errors(blueprint)


@dataclass(frozen=True, slots=True)
class _Delta:
    field: str
    text: str


@dataclass(frozen=True, slots=True)
class _Finished:
    usage: TokenUsage
    finish_reason: str


def _parse() -> ChatCompletionRequest:
    try:
        return ChatCompletionRequest.model_validate_json(request.get_data(cache=False) or b"")
    except ValidationError as error:
        raise from_validation_error(error) from None


def _submit(services: PaddlerServices, chat: ChatCompletionRequest) -> ResultStream[GeneratedTokenResult]:
    try:
        return services.serving_engine().submit_generation(chat_generation(chat, services))
    except RequestTooLargeError as error:
        raise OpenAIError(400, str(error), code="context_length_exceeded", param="messages") from None
    except EngineUnavailableError as error:
        raise OpenAIError(503, str(error)) from None


def _run(
    stream: ResultStream[GeneratedTokenResult], chat: ChatCompletionRequest, environ: dict[str, Any]
) -> Iterator[_Delta | _Finished]:
    stops = StopStrings(chat.stop_strings)
    usage = TokenUsage()
    for result in follow(stream, environ):
        match result:
            case GeneratedToken(kind=TokenKind.REASONING, text=text):
                yield _Delta("reasoning_content", text)
            case GeneratedToken(kind=TokenKind.CONTENT | TokenKind.UNDETERMINABLE, text=text):
                released = stops.push(text)
                if released:
                    yield _Delta("content", released)
                if stops.stopped:
                    stream.close()  # the engine ends the request; its Done still brings the usage
            case GenerationDone(usage=done_usage):
                usage = done_usage
            case GenerationFailed(message=message):
                raise OpenAIError(500, message)
            case RequestRejected(code=code, description=description):
                raise OpenAIError(code if code in (503, 504) else 500, description)
    tail = stops.finish()
    if tail:
        yield _Delta("content", tail)
    limit = chat.token_limit
    counted = usage.content_tokens + usage.reasoning_tokens + usage.undeterminable_tokens
    length = not stops.stopped and limit is not None and counted >= limit
    yield _Finished(usage, "length" if length else "stop")


def _usage(usage: TokenUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _complete(
    stream: ResultStream[GeneratedTokenResult], chat: ChatCompletionRequest, base: dict[str, Any]
) -> Response:
    parts: dict[str, list[str]] = {"content": [], "reasoning_content": []}
    finished = _Finished(TokenUsage(), "stop")
    for event in _run(stream, chat, request.environ):
        if isinstance(event, _Delta):
            parts[event.field].append(event.text)
        else:
            finished = event
    message: dict[str, Any] = {"role": "assistant", "content": "".join(parts["content"])}
    if parts["reasoning_content"]:
        message["reasoning_content"] = "".join(parts["reasoning_content"])
    return jsonify(
        {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finished.finish_reason}],
            "usage": _usage(finished.usage),
        }
    )


def _sse(document: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(document, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _chunks(
    stream: ResultStream[GeneratedTokenResult],
    chat: ChatCompletionRequest,
    base: dict[str, Any],
    environ: dict[str, Any],
) -> Iterator[bytes]:
    chunk = {**base, "object": "chat.completion.chunk"}

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse(
            {**chunk, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        )

    yield choice({"role": "assistant", "content": ""})
    try:
        for event in _run(stream, chat, environ):
            if isinstance(event, _Delta):
                yield choice({event.field: event.text})
                continue
            yield choice({}, event.finish_reason)
            if chat.stream_options is not None and chat.stream_options.include_usage:
                yield _sse({**chunk, "choices": [], "usage": _usage(event.usage)})
    except OpenAIError as error:
        yield _sse(error.body())
    yield b"data: [DONE]\n\n"


@blueprint.post("/v1/chat/completions")
def post_chat_completions() -> Response:
    chat = _parse()
    services = current_services()
    stream = _submit(services, chat)
    base = {"id": f"chatcmpl-{new_request_id()}", "created": int(time.time()), "model": chat.model}
    if not chat.stream:
        return _complete(stream, chat, base)
    return Response(
        # The generator outlives the request context, so it is handed the WSGI environ.
        _chunks(stream, chat, base, request.environ),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


@blueprint.get("/v1/models")
def get_models() -> Response:
    services = current_services()
    info = services.engine.model_info
    return jsonify(
        {
            "object": "list",
            "data": [
                {
                    "id": served_model_id(services),
                    "object": "model",
                    "created": 0,
                    "owned_by": "paddler",
                    "meta": None
                    if info is None
                    else {
                        "n_params": info.n_params,
                        "n_ctx_train": info.n_ctx_train,
                        "n_embd": info.n_embd,
                        "size": info.size_bytes,
                    },
                }
            ],
        }
    )
