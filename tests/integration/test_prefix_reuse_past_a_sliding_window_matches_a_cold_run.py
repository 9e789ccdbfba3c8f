"""On a sliding-window model (Gemma 3, window 512), the cells of positions that fell out of a sequence's
window may be overwritten by other tokens in a unified KV cache. A later prompt that keeps only the
start of that sequence then needs positions that are gone: it must be prefilled again rather than
decoded on a cache with holes (which gave different, silently wrong text)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_settings import EngineSettings, KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.sampling_params import GREEDY
from tests.sliding_window_model import fetch_sliding_window_model

from .conftest import text_of

COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"]
ANIMALS = ["cat", "dog", "horse", "bird", "fox", "owl", "bear", "wolf"]


def _notes(first: int, count: int) -> str:
    """About 11 tokens a line."""
    return "".join(
        f"Note {number}: the {COLORS[number % 8]} {ANIMALS[(number * 3) % 8]} went home.\n"
        for number in range(first, first + count)
    )


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    return fetch_sliding_window_model()


@pytest.fixture
def gemma_engines(gemma_path: Path) -> Iterator[list[ContinuousBatchEngine]]:
    engines: list[ContinuousBatchEngine] = []
    for _ in range(2):
        # Unified KV cache, and idle caches stay in it (no host offload), so sequences share cells.
        settings = EngineSettings(
            model_path=gemma_path,
            slots=2,
            context_size=2048,
            kv_layout=KvLayout.UNIFIED,
            prompt_cache_bytes=0,
            threads=2,
        )
        engine = ContinuousBatchEngine(settings)
        engine.start()
        engines.append(engine)
    yield engines
    for engine in engines:
        engine.stop(timeout=5.0)


def _done(engine: ContinuousBatchEngine, prompt: str, max_tokens: int) -> GenerationDone:
    results = list(engine.submit_generation(GenerateTokensParams(prompt, max_tokens, GREEDY, ignore_eog=True)))
    assert isinstance(results[-1], GenerationDone), results[-1]
    return results[-1]


def test_a_prefix_whose_window_was_overwritten_is_prefilled_again(
    gemma_engines: list[ContinuousBatchEngine],
) -> None:
    warm, cold = gemma_engines
    short = "Short story.\n" + _notes(100, 16)
    notes = "Here is a list of notes.\n" + _notes(0, 50)

    # Slot 0 takes the short prompt's cells at the start of the cache; while it generates, the long
    # list of notes goes to slot 1, into the cells after it.
    first = warm.submit_generation(GenerateTokensParams(short, 24, GREEDY, ignore_eog=True))
    stream = iter(first)
    assert isinstance(next(stream), GeneratedToken)
    notes_done = _done(warm, notes, 1)
    assert list(stream)
    # A prompt sharing the short prompt's opening goes to slot 0 and frees the cells after it, at
    # the start of the cache.
    _done(warm, "Short story.\nWhat is two plus two?", 1)
    # The notes go on: more new tokens than the free cells before the notes' own, so the sliding
    # window cache reuses the cells of the first notes, now outside the window.
    more_notes = notes + _notes(50, 30)
    assert _done(warm, more_notes, 1).usage.cached_prompt_tokens == notes_done.usage.prompt_tokens

    # A question after only the first 35 notes: decoding it needs the first notes again.
    question = "Here is a list of notes.\n" + _notes(0, 35) + "Question: what colour is the animal in note 3?\n"
    warm_answer = list(warm.submit_generation(GenerateTokensParams(question, 12, GREEDY, ignore_eog=True)))
    cold_answer = list(cold.submit_generation(GenerateTokensParams(question, 12, GREEDY, ignore_eog=True)))
    warm_done = warm_answer[-1]
    assert isinstance(warm_done, GenerationDone)
    assert warm_done.usage.cached_prompt_tokens <= 1, "the overwritten prefix was reused"
    assert text_of(warm_answer) == text_of(cold_answer)
