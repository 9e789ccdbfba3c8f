"""What the OpenAI routes share: submitting a generation, following its stream into text deltas (stop
strings held back, reasoning kept apart), usage in OpenAI's shape, and server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from paddler.engine.continuous_batch_engine import EngineUnavailableError, RequestTooLargeError
from paddler.engine.result_stream import ResultStream
from paddler.messages.generate_tokens_params import GenerateTokensParams
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
from paddler.web.openai_error import OpenAIError
from paddler.web.paddler_services import PaddlerServices
from paddler.web.stop_strings import StopStrings


@dataclass(frozen=True, slots=True)
class Delta:
    field: str
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    usage: TokenUsage
    finish_reason: str


def submit(services: PaddlerServices, params: GenerateTokensParams) -> ResultStream[GeneratedTokenResult]:
    try:
        return services.serving_engine().submit_generation(params)
    except RequestTooLargeError as error:
        raise OpenAIError(400, str(error), code="context_length_exceeded", param="messages") from None
    except EngineUnavailableError as error:
        raise OpenAIError(503, str(error)) from None


def run_generation(
    stream: ResultStream[GeneratedTokenResult],
    stop_strings: Sequence[str],
    limit: int | None,
    environ: dict[str, Any],
) -> Iterator[Delta | Finished]:
    """Text deltas ("content" or "reasoning_content"), then one Finished; OpenAIError on failure."""
    stops = StopStrings(stop_strings)
    usage = TokenUsage()
    for result in follow(stream, environ):
        match result:
            case GeneratedToken(kind=TokenKind.REASONING, text=text):
                yield Delta("reasoning_content", text)
            case GeneratedToken(kind=TokenKind.CONTENT | TokenKind.UNDETERMINABLE, text=text):
                released = stops.push(text)
                if released:
                    yield Delta("content", released)
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
        yield Delta("content", tail)
    counted = usage.content_tokens + usage.reasoning_tokens + usage.undeterminable_tokens
    length = not stops.stopped and limit is not None and counted >= limit
    yield Finished(usage, "length" if length else "stop")


def usage_json(usage: TokenUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def sse(document: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(document, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


DONE = b"data: [DONE]\n\n"
