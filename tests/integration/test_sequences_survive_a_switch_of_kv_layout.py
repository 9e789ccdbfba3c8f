"""ModelRunner.switch_layout rebuilds the generation context with the other KV layout (one pool, or a
stream per slot) and carries every sequence's cache over: a sequence continued after the switch predicts
as one computed afresh in the new layout, both ways; one longer than a slot's stream does not fit a
stream per slot and is reported and left empty, while the others are kept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy
import pytest

from paddler.engine.engine_settings import EngineSettings, KvLayout
from paddler.engine.model_runner import DecodeRow, ModelRunner
from paddler.engine.slot_cache import SlotCache
from paddler.llama import DecodeOutcome

SLOTS = 4
CONTEXT = 1024  # 256 cells per slot's stream
PROMPTS = ("The capital of France is", "Water boils at a temperature of", "The first rule of the club is")


@pytest.fixture
def runner(default_model_path: Path) -> Iterator[ModelRunner]:
    settings = EngineSettings(
        model_path=default_model_path, slots=SLOTS, context_size=CONTEXT, threads=2, kv_layout=KvLayout.ADAPTIVE
    )
    runner = ModelRunner(settings)
    try:
        yield runner
    finally:
        runner.close()


def _decode(runner: ModelRunner, seq_id: int, tokens: list[int], start: int) -> numpy.ndarray:
    """Decode `tokens` from `start`; the logits after the last one."""
    outcome, indices = runner.decode_generation([DecodeRow(seq_id, tokens, start, wants_output=True)])
    assert outcome is DecodeOutcome.OK
    assert runner.generation_context is not None
    return numpy.asarray(runner.generation_context.get_logits(indices[0]))


def _prompt(runner: ModelRunner, text: str) -> list[int]:
    return runner.tokenize(text, add_special=True, parse_special=False)


@pytest.mark.parametrize("to_unified", [True, False])
def test_a_sequence_continued_after_the_switch_predicts_as_one_computed_in_the_new_layout(
    runner: ModelRunner, to_unified: bool
) -> None:
    assert runner.kv_unified is False  # the adaptive layout starts with a stream per slot
    if not to_unified:
        assert runner.switch_layout(True) == []
    prompts = [_prompt(runner, text) for text in PROMPTS]
    next_tokens = [int(numpy.argmax(_decode(runner, seq, tokens, 0))) for seq, tokens in enumerate(prompts)]
    assert runner.switch_layout(to_unified) == []
    assert runner.kv_unified is to_unified
    assert runner.stream_cells == (CONTEXT if to_unified else CONTEXT // SLOTS)
    assert runner.n_ctx_seq == CONTEXT  # what a sequence may reach: the pool, whatever the layout now
    assert runner.generation_context is not None
    for seq, (tokens, token) in enumerate(zip(prompts, next_tokens, strict=True)):
        carried = _decode(runner, seq, [token], len(tokens))
        afresh = _decode(runner, SLOTS - 1, [*tokens, token], 0)
        runner.generation_context.seq_rm(SLOTS - 1)
        assert int(numpy.argmax(carried)) == int(numpy.argmax(afresh))
        numpy.testing.assert_allclose(carried, afresh, atol=1e-3)


def test_a_state_saved_in_one_layout_is_restored_in_the_other(runner: ModelRunner) -> None:
    """What the host prompt cache does: a cache saved before a switch comes back after it."""
    tokens = _prompt(runner, PROMPTS[1])
    token = int(numpy.argmax(_decode(runner, 2, tokens, 0)))
    saved = runner.save_sequence(2)
    assert runner.switch_layout(True) == []
    assert runner.generation_context is not None
    runner.generation_context.seq_rm(2)
    assert runner.restore_sequence(2, saved)
    carried = _decode(runner, 2, [token], len(tokens))
    afresh = _decode(runner, 0, [*tokens, token], 0)
    numpy.testing.assert_allclose(carried, afresh, atol=1e-3)


def test_a_sequence_longer_than_a_stream_is_dropped_and_the_others_kept(runner: ModelRunner) -> None:
    short = _prompt(runner, PROMPTS[0])
    _decode(runner, 1, short, 0)
    assert runner.switch_layout(True) == []
    long = _prompt(runner, "One two three four five six seven eight nine ten. " * 30)
    assert len(long) > CONTEXT // SLOTS
    _decode(runner, 0, long, 0)
    assert runner.switch_layout(False) == [0]
    assert runner.generation_context is not None
    assert runner.generation_context.seq_pos_range(0) is None
    assert runner.generation_context.seq_pos_range(1) == (0, len(short) - 1)


def test_a_prefix_shared_across_streams_leaves_its_target_a_token_its_stream_can_take(runner: ModelRunner) -> None:
    """The copy across streams is applied by the next decode: a target whose shared prefix filled its
    stream could not be scheduled (it waits for the pool), and with nothing decoded the copy would never
    come, so the layout could never switch. The prefix stops one token short of the stream."""
    settings = replace(runner.settings, slots=SLOTS)
    slot_cache = SlotCache(settings, runner)
    stream = CONTEXT // SLOTS
    words = _prompt(runner, "one two three four five six seven eight nine ten " * 40)
    full, longer = words[:stream], words[: stream + 40]
    source, _, _ = slot_cache.take(full)
    _decode(runner, source.seq_id, full, 0)
    source.cached_tokens.extend(full)
    target, _, shared = slot_cache.take(longer)
    assert target is not source
    assert shared is not None
    assert shared.length == stream - 1
