"""Closing a stream cancels its request at the next step and frees the slot for the next one."""

from __future__ import annotations

import time

from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, wait_for


def test_closing_a_running_stream_frees_the_slot(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    stream = engine.submit_generation(
        GenerateTokensParams(chat_prompt("Write a very long essay about rivers."), 3000, GREEDY)
    )
    first_tokens = [next(stream) for _ in range(3)]
    assert all(isinstance(result, GeneratedToken) for result in first_tokens)
    assert engine.stats().slots_processing == 1
    stream.close()
    assert wait_for(lambda: engine.stats().slots_processing == 0, timeout=2.0)
    generated = engine.stats().generated_tokens
    assert generated < 200, "generation stopped long before max_tokens"
    follow_up = list(engine.submit_generation(GenerateTokensParams(chat_prompt("Say yes."), 4, GREEDY)))
    assert isinstance(follow_up[-1], GenerationDone)


def test_closing_a_buffered_stream_leaves_the_buffer_at_once(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1, buffered_request_timeout=30.0)
    running = engine.submit_generation(GenerateTokensParams(chat_prompt("Write a long essay."), 3000, GREEDY))
    next(running)
    waiting = engine.submit_generation(GenerateTokensParams(chat_prompt("Hi"), 4, GREEDY))
    assert wait_for(lambda: engine.stats().buffered_requests == 1)
    started = time.monotonic()
    waiting.close()
    assert wait_for(lambda: engine.stats().buffered_requests == 0, timeout=1.0)
    assert time.monotonic() - started < 1.0
    running.close()
    assert wait_for(lambda: engine.stats().slots_processing == 0)
