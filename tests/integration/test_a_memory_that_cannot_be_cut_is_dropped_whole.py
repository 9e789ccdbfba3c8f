"""Cutting a slot's cache back (SlotCache.truncate) on real memories: an attention cache is cut and
keeps its prefix; a recurrent state cannot be cut (llama.cpp's seq_rm refuses), so the whole sequence
is dropped and the tokens it held come back to be decoded again, rather than bookkeeping that no longer
matches the memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from paddler.engine.engine_settings import EngineSettings
from paddler.engine.model_runner import DecodeRow, ModelRunner
from paddler.engine.prefix_reuse import MemoryKind
from paddler.engine.slot_cache import SlotCache
from paddler.llama import DecodeOutcome
from tests.tiny_gguf import write_tiny_mamba


@pytest.fixture(scope="module")
def tiny_mamba(tmp_path_factory: pytest.TempPathFactory, vocab_models_dir: Path) -> Path:
    return write_tiny_mamba(
        tmp_path_factory.mktemp("mamba") / "tiny-mamba.gguf", vocab_models_dir / "ggml-vocab-gpt-2.gguf"
    )


@contextmanager
def _slot_cache(model_path: Path) -> Iterator[tuple[ModelRunner, SlotCache]]:
    settings = EngineSettings(model_path=model_path, slots=2, context_size=512, threads=2)
    runner = ModelRunner(settings)
    try:
        yield runner, SlotCache(settings, runner)
    finally:
        runner.close()


def _prefill(runner: ModelRunner, slot_cache: SlotCache, text: str) -> list[int]:
    tokens = runner.tokenize(text, add_special=True, parse_special=False)
    slot, reused, shared = slot_cache.take(tokens)
    assert (slot.seq_id, reused, shared) == (0, 0, None)
    outcome, _ = runner.decode_generation([DecodeRow(slot.seq_id, tokens, 0, wants_output=True)])
    assert outcome is DecodeOutcome.OK
    slot.cached_tokens.extend(tokens)
    return tokens


def test_an_attention_cache_is_cut_back(default_model_path: Path) -> None:
    with _slot_cache(default_model_path) as (runner, slot_cache):
        assert runner.memory.kind is MemoryKind.ATTENTION
        tokens = _prefill(runner, slot_cache, "An attention cache holds every position.")
        slot = slot_cache.slots[0]
        assert slot_cache.truncate(slot, 4) == []
        assert slot.cached_tokens == tokens[:4]
        assert runner.first_cached_position(0) == 0
        assert runner.generation_context is not None
        assert runner.generation_context.seq_pos_range(0) == (0, 3)


def test_a_recurrent_state_is_dropped_whole_when_it_cannot_be_cut(tiny_mamba: Path) -> None:
    with _slot_cache(tiny_mamba) as (runner, slot_cache):
        assert runner.memory.kind is MemoryKind.RECURRENT
        tokens = _prefill(runner, slot_cache, "A recurrent state holds only its last position.")
        slot = slot_cache.slots[0]
        # Nothing beyond the cache to cut: the state stays.
        assert slot_cache.truncate(slot, len(tokens)) == []
        assert slot.cached_tokens == tokens
        # A real cut: llama.cpp refuses it, so the sequence goes and its tokens come back.
        assert slot_cache.truncate(slot, 4) == tokens[:4]
        assert slot.cached_tokens == []
        assert runner.first_cached_position(0) is None
