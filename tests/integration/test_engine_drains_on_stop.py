"""Stopping drains: running requests and those buffered before the stop finish, or end with an error by
the deadline; nothing new starts."""

from __future__ import annotations

import contextlib
import queue
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_errors import EngineUnavailableError
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_state import EngineState
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.request_rejected import SHUTTING_DOWN
from paddler.messages.sampling_params import GREEDY

from .conftest import chat_prompt, wait_for


def _engine(default_model_path: Path, **overrides: Any) -> ContinuousBatchEngine:
    settings = replace(EngineSettings(model_path=default_model_path, threads=2, context_size=4096), **overrides)
    engine = ContinuousBatchEngine(settings)
    engine.start()
    return engine


def test_a_short_request_finishes_during_the_drain(default_model_path: Path) -> None:
    engine = _engine(default_model_path, slots=1)
    stream = engine.submit_generation(GenerateTokensParams(chat_prompt("Say yes."), 6, GREEDY))
    engine.stop(timeout=10.0)
    assert isinstance(list(stream)[-1], GenerationDone)
    assert engine.state is EngineState.STOPPED
    with pytest.raises(EngineUnavailableError):
        engine.submit_generation(GenerateTokensParams("hi", 4))
    engine.stop()


def test_a_request_buffered_before_the_stop_is_served_during_the_drain(default_model_path: Path) -> None:
    engine = _engine(default_model_path, slots=1, buffered_request_timeout=30.0)
    running = engine.submit_generation(GenerateTokensParams(chat_prompt("Count to ten."), 24, GREEDY))
    assert isinstance(next(running), GeneratedToken)
    waiting = engine.submit_generation(GenerateTokensParams(chat_prompt("Hi"), 4, GREEDY))
    assert wait_for(lambda: engine.stats().buffered_requests == 1, timeout=5)
    engine.stop(timeout=30.0)
    assert isinstance(list(running)[-1], GenerationDone)
    served = list(waiting)
    assert isinstance(served[-1], GenerationDone)
    assert sum(isinstance(item, GeneratedToken) for item in served) >= 1
    assert engine.state is EngineState.STOPPED


def test_running_and_buffered_requests_end_with_shutting_down_at_the_deadline(default_model_path: Path) -> None:
    engine = _engine(default_model_path, slots=1, buffered_request_timeout=30.0)
    running = engine.submit_generation(GenerateTokensParams(chat_prompt("Write a long essay."), 3000, GREEDY))
    assert isinstance(next(running), GeneratedToken)
    waiting = engine.submit_generation(GenerateTokensParams(chat_prompt("Hi"), 4, GREEDY))
    started = time.monotonic()
    engine.stop(timeout=0.5)
    assert time.monotonic() - started < 3.0
    assert list(waiting) == [SHUTTING_DOWN]
    assert list(running)[-1] == SHUTTING_DOWN
    assert engine.state is EngineState.STOPPED


def test_an_idle_engine_stops_at_once(default_model_path: Path) -> None:
    engine = _engine(default_model_path, slots=1)
    list(engine.submit_generation(GenerateTokensParams(chat_prompt("Say yes."), 3, GREEDY)))
    started = time.monotonic()
    engine.stop(timeout=30.0)
    assert time.monotonic() - started < 2.0
    assert engine.state is EngineState.STOPPED


def test_a_step_running_past_the_stall_limit_marks_the_engine_stalled(default_model_path: Path) -> None:
    engine = _engine(default_model_path, slots=1, n_batch=2048, n_ubatch=2048, stall_seconds=0.05)
    try:
        prompt = "Summarize: " + "The river flows past the old mill and the quiet village. " * 150
        stream = engine.submit_generation(GenerateTokensParams(prompt, 2, GREEDY))
        seen_stalled = False
        deadline = time.monotonic() + 30
        while not stream.ended and time.monotonic() < deadline:
            seen_stalled |= engine.stalled
            with contextlib.suppress(queue.Empty):
                stream.get(timeout=0.01)
        assert seen_stalled, "the long prefill step outlived the 50 ms stall limit"
        # The step that sent Done may still be finishing its bookkeeping on a busy machine.
        deadline = time.monotonic() + 2.0
        while engine.stalled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not engine.stalled
    finally:
        engine.stop()
