"""How an engine stream's outcomes become OpenAI events and errors: what the model cannot be made to do
on demand (tool-call blocks that fail to parse, failed generations, a full buffer) is fed to the
mapping directly, as the engine would deliver it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from paddler.engine.result_stream import ResultStream
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
from paddler.messages.request_rejected import ENGINE_FAULT, RequestRejected
from paddler.messages.token_usage import TokenUsage
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.generation import Delta, Finished, ToolCalls, ToolCallText, run_generation


def _run(
    results: Sequence[GeneratedTokenResult], limit: int | None = None
) -> list[Delta | TokenLogprob | ToolCallText | ToolCalls | Finished]:
    stream: ResultStream[GeneratedTokenResult] = ResultStream("r", lambda _: None)
    for result in results:
        stream.put(result)
    return list(run_generation(stream, (), limit, {}))


def _failure(results: Sequence[GeneratedTokenResult]) -> OpenAIError:
    with pytest.raises(OpenAIError) as raised:
        _run(results)
    return raised.value


def test_parsed_calls_end_with_finish_reason_tool_calls() -> None:
    call = ParsedToolCall("call_0", "get_weather", {"city": "Paris"})
    events = _run(
        [
            GeneratedToken(TokenKind.TOOL_CALL, '{"name"'),
            ToolCallEvent("ToolCallParsed", calls=(call,)),
            GenerationDone(TokenUsage(tool_call_tokens=20)),
        ]
    )
    assert events[:2] == [ToolCallText('{"name"'), ToolCalls((call,))]
    assert events[-1] == Finished(TokenUsage(tool_call_tokens=20), "tool_calls")


def test_reaching_the_limit_is_length_and_thinking_is_its_own_field() -> None:
    events = _run(
        [
            GeneratedToken(TokenKind.REASONING, "Hm."),
            GeneratedToken(TokenKind.CONTENT, "Yes"),
            GenerationDone(TokenUsage(reasoning_tokens=1, content_tokens=1)),
        ],
        limit=2,
    )
    assert events[:2] == [Delta("reasoning_content", "Hm."), Delta("content", "Yes")]
    assert isinstance(events[-1], Finished)
    assert events[-1].finish_reason == "length"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (ToolCallEvent("ToolCallValidationFailed", errors=('unknown tool name "x"',)), 'unknown tool name "x"'),
        (
            ToolCallEvent("UnrecognizedToolCallFormat", text="<tool_call>?", errors=("not JSON",)),
            "raw text: <tool_call>?",
        ),
        (ToolCallEvent("ToolCallParseFailed", errors=("bindings parse failed: x",)), "bindings parse failed"),
    ],
)
def test_a_tool_call_that_fails_is_a_server_error(event: ToolCallEvent, message: str) -> None:
    error = _failure([event, GenerationDone(TokenUsage())])
    assert error.status == 500
    assert error.code == event.kind
    assert message in error.message


def test_failures_and_rejections_get_openai_statuses() -> None:
    grammar = _failure([GenerationFailed(GenerationErrorKind.GRAMMAR_SYNTAX_ERROR, "bad schema")])
    assert (grammar.status, grammar.param) == (400, "response_format")
    sampler = _failure([GenerationFailed(GenerationErrorKind.SAMPLER_ERROR, "evicted")])
    assert sampler.status == 500
    assert sampler.body()["error"] == {
        "message": "evicted",
        "type": "server_error",
        "param": None,
        "code": "SamplerError",
    }
    full = _failure([RequestRejected(503, "Buffered requests overflow")])
    assert (full.status, full.body()["error"]["type"]) == (429, "rate_limit_error")  # type: ignore[index]
    waited = _failure([RequestRejected(504, "Waiting for available slot timed out")])
    assert (waited.status, waited.code) == (503, "buffer_timeout")
    stopped = _failure([RequestRejected(503, "The engine is not serving: it faulted too often")])
    assert (stopped.status, stopped.code) == (503, "unavailable"), "only a full buffer is a 429"
    faulted = _failure([ENGINE_FAULT])
    assert (faulted.status, faulted.body()["error"]["message"]) == (500, ENGINE_FAULT.description)  # type: ignore[index]


def test_only_content_log_probabilities_pass_and_none_after_a_stop_string() -> None:
    content = TokenLogprob(TokenKind.CONTENT, b"Yes", -0.1)
    stream: ResultStream[GeneratedTokenResult] = ResultStream("r", lambda _: None)
    for result in (
        TokenLogprob(TokenKind.REASONING, b"Hm", -0.5),
        GeneratedToken(TokenKind.REASONING, "Hm"),
        content,
        GeneratedToken(TokenKind.CONTENT, "Yes"),
        GeneratedToken(TokenKind.CONTENT, " STOP"),
        TokenLogprob(TokenKind.CONTENT, b" after", -0.2),
        GenerationDone(TokenUsage(content_tokens=3)),
    ):
        stream.put(result)
    events = list(run_generation(stream, ["STOP"], None, {}))
    assert [event for event in events if isinstance(event, TokenLogprob)] == [content]
