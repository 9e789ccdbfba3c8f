"""ResultStream: iteration stops after the terminal result; closing early cancels exactly once."""

from __future__ import annotations

import queue

import pytest

from paddler.engine.result_stream import ResultStream
from paddler.messages.generated_token_result import GeneratedToken, GeneratedTokenResult, GenerationDone, TokenKind
from paddler.messages.token_usage import TokenUsage


def test_iteration_ends_at_the_terminal_result_and_close_does_not_cancel() -> None:
    cancelled: list[str] = []
    stream: ResultStream[GeneratedTokenResult] = ResultStream("r1", cancelled.append)
    stream.put(GeneratedToken(TokenKind.CONTENT, "a"))
    stream.put(GenerationDone(TokenUsage()))
    stream.put(GeneratedToken(TokenKind.CONTENT, "never read"))
    assert [type(result).__name__ for result in stream] == ["GeneratedToken", "GenerationDone"]
    assert stream.ended
    stream.close()
    assert cancelled == []


def test_closing_before_the_end_cancels_once() -> None:
    cancelled: list[str] = []
    with ResultStream[GeneratedTokenResult]("r2", cancelled.append) as stream:
        stream.put(GeneratedToken(TokenKind.CONTENT, "a"))
        next(stream)
    stream.close()
    assert cancelled == ["r2"]


def test_get_with_timeout() -> None:
    stream: ResultStream[GeneratedTokenResult] = ResultStream("r3", lambda request_id: None)
    with pytest.raises(queue.Empty):
        stream.get(timeout=0.01)


def test_a_steps_results_written_at_once_are_read_one_by_one() -> None:
    stream: ResultStream[GeneratedTokenResult] = ResultStream("r3", lambda _: None)
    stream.put_all([GeneratedToken(TokenKind.REASONING, "a"), GeneratedToken(TokenKind.CONTENT, "b")])
    stream.put_all([])
    stream.put_all([GenerationDone(TokenUsage())])
    assert stream.unread == 2, "two writes"
    assert [type(result).__name__ for result in stream] == ["GeneratedToken", "GeneratedToken", "GenerationDone"]
    assert stream.unread == 0
