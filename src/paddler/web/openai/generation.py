"""What the OpenAI routes share: submitting a generation, following its stream into text deltas (stop
strings held back, reasoning kept apart), log-probabilities and tool calls, errors, usage and
log-probabilities in OpenAI's shapes, and server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response

from paddler.engine.engine_errors import (
    EngineUnavailableError,
    InvalidRequestError,
    RequestTooLargeError,
    ToolChoiceUnsupportedError,
)
from paddler.engine.result_stream import ResultStream
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import (
    GeneratedToken,
    GeneratedTokenResult,
    GenerationDone,
    GenerationErrorKind,
    GenerationFailed,
    ParsedToolCall,
    TokenKind,
    TokenLogprob,
    ToolCallEvent,
)
from paddler.messages.request_rejected import BUFFER_OVERFLOW, RequestRejected
from paddler.messages.token_usage import TokenUsage
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.stop_strings import StopStrings
from paddler.web.shared.paddler_services import PaddlerServices
from paddler.web.shared.result_following import follow
from paddler.web.shared.server_sent_events import event_stream_response


@dataclass(frozen=True, slots=True)
class Delta:
    field: str
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallText:
    """Text of a tool-call block as the model writes it (markers left out), for streaming its arguments."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The calls of one tool-call block, parsed and checked against the tools' schemas."""

    calls: tuple[ParsedToolCall, ...]


@dataclass(frozen=True, slots=True)
class Finished:
    usage: TokenUsage
    finish_reason: str


def _error_of(failure: ToolCallEvent | GenerationFailed | RequestRejected) -> OpenAIError:
    match failure:
        case ToolCallEvent(kind=kind, errors=errors, text=text):
            # A tool-call block that did not parse or validate ends the response, as in Paddler.
            reason = errors[0] if errors else kind
            if kind == "UnrecognizedToolCallFormat":
                reason = (
                    f"model produced output the parser did not recognise as a tool call: {reason}; raw text: {text}"
                )
            return OpenAIError(500, reason, code=kind)
        case GenerationFailed(kind=kind, message=message):
            # A schema or grammar that cannot be compiled is the request's fault; the rest is the server's.
            if kind in (GenerationErrorKind.GRAMMAR_SYNTAX_ERROR, GenerationErrorKind.GRAMMAR_INITIALIZATION_FAILED):
                return OpenAIError(400, message, code=kind.value, param="response_format")
            return OpenAIError(500, message, code=kind.value)
        case RequestRejected():
            return _rejection_error(failure)


def _rejection_error(rejection: RequestRejected) -> OpenAIError:
    """A full buffer is OpenAI's 429 (clients back off and retry); a timed-out slot wait or an engine that
    is not serving is a 503; an engine fault is a 500."""
    if rejection == BUFFER_OVERFLOW:
        return OpenAIError(429, rejection.description, code="buffer_full")
    if rejection.code == 504:
        return OpenAIError(503, rejection.description, code="buffer_timeout")
    if rejection.code == 503:
        return OpenAIError(503, rejection.description, code="unavailable")
    return OpenAIError(500, rejection.description)


def submit_openai_generation(
    services: PaddlerServices, params: GenerateTokensParams
) -> ResultStream[GeneratedTokenResult]:
    try:
        return services.submit_generation(params)
    except RequestTooLargeError as error:
        raise OpenAIError(400, str(error), code="context_length_exceeded", param="messages") from None
    except InvalidRequestError as error:
        raise OpenAIError(400, str(error)) from None
    except ToolChoiceUnsupportedError as error:
        raise OpenAIError(400, str(error), param="tool_choice") from None
    except EngineUnavailableError as error:
        raise OpenAIError(503, str(error)) from None


def run_generation(
    stream: ResultStream[GeneratedTokenResult],
    stop_strings: Sequence[str],
    limit: int | None,
    environ: dict[str, Any],
) -> Iterator[Delta | TokenLogprob | ToolCallText | ToolCalls | Finished]:
    """Text deltas ("content" or "reasoning_content"), the content tokens' log-probabilities (when asked
    for), tool-call text and parsed tool calls, then one Finished; OpenAIError on failure."""
    stops = StopStrings(stop_strings)
    usage = TokenUsage()
    called = False
    for result in follow(stream, environ):
        match result:
            case TokenLogprob(kind=TokenKind.CONTENT | TokenKind.UNDETERMINABLE) if not stops.stopped:
                yield result
            case TokenLogprob():
                pass  # thinking has no log-probabilities in OpenAI's API
            case GeneratedToken(kind=TokenKind.REASONING, text=text):
                yield Delta("reasoning_content", text)
            case GeneratedToken(kind=TokenKind.CONTENT | TokenKind.UNDETERMINABLE, text=text):
                released = stops.push(text)
                if released:
                    yield Delta("content", released)
                if stops.stopped:
                    stream.close()  # the engine ends the request; its Done still brings the usage
            case GeneratedToken(kind=TokenKind.TOOL_CALL, text=text):
                yield ToolCallText(text)
            case ToolCallEvent(kind="ToolCallParsed", calls=calls):
                called = True
                yield ToolCalls(calls)
            case GenerationDone(usage=done_usage):
                usage = done_usage
            case ToolCallEvent() | GenerationFailed() | RequestRejected():
                raise _error_of(result)
    tail = stops.finish()
    if tail:
        yield Delta("content", tail)
    counted = usage.content_tokens + usage.reasoning_tokens + usage.undeterminable_tokens
    length = not stops.stopped and limit is not None and counted >= limit
    yield Finished(usage, "tool_calls" if called else "length" if length else "stop")


def _token_json(token: bytes, logprob: float) -> dict[str, Any]:
    return {"token": token.decode("utf-8", "replace"), "logprob": logprob, "bytes": list(token)}


def logprob_json(entry: TokenLogprob) -> dict[str, Any]:
    """One token in a chat completion's `logprobs.content`."""
    return {
        **_token_json(entry.token, entry.logprob),
        "top_logprobs": [_token_json(token, logprob) for token, logprob in entry.top],
    }


def legacy_logprobs(entries: Sequence[TokenLogprob], text_offset: int) -> dict[str, Any]:
    """A text completion's `logprobs`: parallel lists, offsets counted from `text_offset`."""
    tokens = [entry.token.decode("utf-8", "replace") for entry in entries]
    offsets = []
    for token in tokens:
        offsets.append(text_offset)
        text_offset += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": [entry.logprob for entry in entries],
        "top_logprobs": [
            {token.decode("utf-8", "replace"): logprob for token, logprob in entry.top} for entry in entries
        ],
        "text_offset": offsets,
    }


def usage_json(usage: TokenUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.input_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def sse(document: dict[str, Any], event: str | None = None) -> bytes:
    """One server-sent event; the Responses API names its events."""
    data = f"data: {json.dumps(document, ensure_ascii=False, separators=(',', ':'))}\n\n"
    return (data if event is None else f"event: {event}\n{data}").encode()


DONE = b"data: [DONE]\n\n"


def chunk_stream_response(chunks: Iterator[bytes]) -> Response:
    """Chat and text completion chunks as server-sent events: an error raised once the stream has begun
    goes out as an error event (the status is already sent), and the stream always ends with [DONE]."""

    def events() -> Iterator[bytes]:
        try:
            yield from chunks
        except OpenAIError as error:
            yield sse(error.body())
        yield DONE

    return event_stream_response(events())
