"""A recurrent model (Mamba) holds one state per sequence, which llama.cpp cannot cut back: a prompt that
shares only part of a slot's cache is prefilled again from scratch, and one that extends the whole cache
carries the state on. Before, the cache was cut anyway: the next decode failed (positions no longer
followed the state) and the request ended in an error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_settings import EngineSettings, KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedTokenResult, GenerationDone
from paddler.messages.sampling_params import GREEDY
from tests.tiny_gguf import write_tiny_mamba

from .conftest import text_of

OPENING = "The first line of a shared opening.\nThe second line of it.\n"


@pytest.fixture(scope="module")
def tiny_mamba(tmp_path_factory: pytest.TempPathFactory, vocab_models_dir: Path) -> Path:
    return write_tiny_mamba(
        tmp_path_factory.mktemp("mamba") / "tiny-mamba.gguf", vocab_models_dir / "ggml-vocab-gpt-2.gguf"
    )


@pytest.fixture
def mamba_engines(tiny_mamba: Path, request: pytest.FixtureRequest) -> Iterator[list[ContinuousBatchEngine]]:
    engines = [
        ContinuousBatchEngine(
            EngineSettings(
                model_path=tiny_mamba,
                slots=1,
                context_size=1024,
                kv_layout=KvLayout.UNIFIED,
                prompt_cache_bytes=request.param,
                threads=2,
            )
        )
        for _ in range(2)
    ]
    for engine in engines:
        engine.start()
    yield engines
    for engine in engines:
        engine.stop(timeout=5.0)


def _generate(engine: ContinuousBatchEngine, prompt: str, max_tokens: int) -> list[GeneratedTokenResult]:
    results = list(engine.submit_generation(GenerateTokensParams(prompt, max_tokens, GREEDY, ignore_eog=True)))
    assert isinstance(results[-1], GenerationDone), results[-1]
    return results


def _cached(results: list[GeneratedTokenResult]) -> int:
    done = results[-1]
    assert isinstance(done, GenerationDone)
    return done.usage.cached_prompt_tokens


# Idle caches in the KV cache, then saved to host memory and restored.
@pytest.mark.parametrize("mamba_engines", [0, 1 << 30], indirect=True)
def test_partial_prefixes_are_prefilled_again_and_whole_ones_carry_on(
    mamba_engines: list[ContinuousBatchEngine],
) -> None:
    warm, cold = mamba_engines
    first = _generate(warm, OPENING + "Then it goes one way.\n", 1)
    # The whole cached prompt opens the next one: the state carries on.
    extended = OPENING + "Then it goes one way.\nAnd further.\n"
    carried = _generate(warm, extended, 8)
    assert _cached(carried) == first[-1].usage.prompt_tokens  # type: ignore[union-attr]
    assert text_of(carried) == text_of(_generate(cold, extended, 8))
    # Only the opening is shared: the state cannot be cut back to it, so the prompt is decoded whole.
    forked = OPENING + "Then it goes another way entirely.\n"
    branched = _generate(warm, forked, 8)
    assert _cached(branched) == 0
    assert text_of(branched) == text_of(_generate(cold, forked, 8))
