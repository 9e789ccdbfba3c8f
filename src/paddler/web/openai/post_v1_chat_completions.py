"""POST /v1/chat/completions: the OpenAI chat API over the same engine.

Unlike Paddler's compatibility service, per-request sampling, stop strings, max_tokens (legacy and
new), response_format, tool_choice (a required or named call is forced through a grammar),
`finish_reason: "length"` and `reasoning_content` are honoured; errors use OpenAI's statuses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request

from paddler.engine.result_stream import ResultStream
from paddler.messages.generated_token_result import GeneratedTokenResult, ParsedToolCall, TokenLogprob
from paddler.web.openai.chat_request import ChatCompletionRequest, chat_generation
from paddler.web.openai.generation import (
    Delta,
    Finished,
    ToolCalls,
    ToolCallText,
    chunk_stream_response,
    logprob_json,
    run_generation,
    sse,
    submit_openai_generation,
    usage_json,
)
from paddler.web.openai.request import parse_openai_body
from paddler.web.openai.tool_call_deltas import ToolCallDeltas
from paddler.web.openai.tools import call_arguments, new_call_id
from paddler.web.shared.paddler_services import current_services
from paddler.web.shared.request_id import new_request_id

blueprint = Blueprint("openai_chat", __name__)


def _tool_call(call: ParsedToolCall) -> dict[str, Any]:
    return {"id": new_call_id(), "type": "function", "function": {"name": call.name, "arguments": call_arguments(call)}}


def _complete(
    stream: ResultStream[GeneratedTokenResult], chat: ChatCompletionRequest, base: dict[str, Any]
) -> Response:
    parts: dict[str, list[str]] = {"content": [], "reasoning_content": []}
    calls: list[dict[str, Any]] = []
    logprobs: list[dict[str, Any]] = []
    finished: Finished | None = None
    for event in run_generation(stream, chat.stop_strings, chat.token_limit, request.environ):
        if isinstance(event, Delta):
            parts[event.field].append(event.text)
        elif isinstance(event, TokenLogprob):
            logprobs.append(logprob_json(event))
        elif isinstance(event, ToolCalls):
            calls.extend(_tool_call(call) for call in event.calls)
        elif isinstance(event, Finished):
            finished = event
    assert finished is not None
    content = "".join(parts["content"])
    # OpenAI's content is null when the model only called tools.
    message: dict[str, Any] = {"role": "assistant", "content": content if content or not calls else None}
    if parts["reasoning_content"]:
        message["reasoning_content"] = "".join(parts["reasoning_content"])
    if calls:
        message["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": message,
        "logprobs": {"content": logprobs, "refusal": None} if chat.logprobs else None,
        "finish_reason": finished.finish_reason,
    }
    return jsonify({**base, "object": "chat.completion", "choices": [choice], "usage": usage_json(finished.usage)})


def _chat_chunks(
    stream: ResultStream[GeneratedTokenResult],
    chat: ChatCompletionRequest,
    base: dict[str, Any],
    environ: dict[str, Any],
) -> Iterator[bytes]:
    chunk = {**base, "object": "chat.completion.chunk"}

    # Log-probabilities ride on the next content chunk: a token's text may come out later than the token.
    logprobs: list[dict[str, Any]] = []

    def chat_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        carried = None
        if logprobs and (delta.get("content") or finish_reason is not None):
            carried = {"content": logprobs.copy(), "refusal": None}
            logprobs.clear()
        return sse(
            {**chunk, "choices": [{"index": 0, "delta": delta, "logprobs": carried, "finish_reason": finish_reason}]}
        )

    yield chat_chunk({"role": "assistant", "content": ""})
    tool_calls = ToolCallDeltas()
    for event in run_generation(stream, chat.stop_strings, chat.token_limit, environ):
        if isinstance(event, TokenLogprob):
            logprobs.append(logprob_json(event))
            continue
        if isinstance(event, Delta):
            yield chat_chunk({event.field: event.text})
            continue
        if isinstance(event, ToolCallText | ToolCalls):
            deltas = (
                tool_calls.push(event.text) if isinstance(event, ToolCallText) else tool_calls.block_parsed(event.calls)
            )
            if deltas:
                yield chat_chunk({"tool_calls": deltas})
            continue
        yield chat_chunk({}, event.finish_reason)
        if chat.include_usage:
            yield sse({**chunk, "choices": [], "usage": usage_json(event.usage)})


@blueprint.post("/v1/chat/completions")
def post_chat_completions() -> Response:
    chat = parse_openai_body(ChatCompletionRequest)
    services = current_services()
    stream = submit_openai_generation(services, chat_generation(chat, services))
    base = {"id": f"chatcmpl-{new_request_id()}", "created": int(time.time()), "model": chat.model}
    if not chat.stream:
        return _complete(stream, chat, base)
    # The generator outlives the request context, so it is handed the WSGI environ.
    return chunk_stream_response(_chat_chunks(stream, chat, base, request.environ))
