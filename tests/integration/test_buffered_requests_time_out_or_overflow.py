"""When every slot is busy requests wait in a bounded buffer: overflow and timeout end them at once."""

from __future__ import annotations

import time

from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.request_rejected import BUFFER_OVERFLOW, WAIT_TIMED_OUT
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt

LONG = GenerateTokensParams(chat_prompt("Write a very long essay about mountains."), 3000, GREEDY)
SHORT = GenerateTokensParams(chat_prompt("Say hi."), 4, GREEDY)


def test_overflow_is_immediate(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1, max_buffered_requests=0)
    with engine.submit_generation(LONG) as running:
        assert isinstance(next(running), GeneratedToken)
        started = time.monotonic()
        assert list(engine.submit_generation(SHORT)) == [BUFFER_OVERFLOW]
        assert time.monotonic() - started < 2.0, "refused at once, not after a wait"
        assert engine.stats().requests_rejected == 1


def test_a_buffered_request_times_out_with_504(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1, max_buffered_requests=4, buffered_request_timeout=0.3)
    with engine.submit_generation(LONG) as running:
        next(running)
        started = time.monotonic()
        assert list(engine.submit_generation(SHORT)) == [WAIT_TIMED_OUT]
        waited = time.monotonic() - started
        assert 0.25 <= waited < 5.0, "not before the timeout, and long before the running request ends"
        assert engine.stats().buffered_requests == 0


def test_buffered_requests_run_when_a_slot_frees(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1, max_buffered_requests=4, buffered_request_timeout=30.0)
    first = engine.submit_generation(GenerateTokensParams(chat_prompt("Count to three."), 12, GREEDY))
    queued = [engine.submit_generation(SHORT) for _ in range(3)]
    for stream in [first, *queued]:
        assert isinstance(list(stream)[-1], GenerationDone)
