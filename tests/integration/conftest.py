"""Engines over SmolLM2, built per test with the settings it needs and always stopped afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_settings import EngineSettings
from paddler.messages.generated_token_result import GeneratedToken, GeneratedTokenResult

EngineFactory = Callable[..., ContinuousBatchEngine]


def chat_prompt(question: str) -> str:
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def text_of(results: list[GeneratedTokenResult]) -> str:
    return "".join(result.text for result in results if isinstance(result, GeneratedToken))


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def engine_factory(default_model_path: Path) -> Iterator[EngineFactory]:
    engines: list[ContinuousBatchEngine] = []

    def build(**overrides: Any) -> ContinuousBatchEngine:
        settings = replace(EngineSettings(model_path=default_model_path, threads=2, context_size=4096), **overrides)
        engine = ContinuousBatchEngine(settings)
        engines.append(engine)
        engine.start()
        return engine

    yield build
    for engine in engines:
        engine.stop(timeout=5.0)
