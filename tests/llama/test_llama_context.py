"""LlamaContext on SmolLM2: parameter checks, memory operations, outputs and lifecycle."""

from __future__ import annotations

import logging

import numpy
import pytest

from paddler.llama import (
    ClosedHandleError,
    DecodeOutcome,
    InsufficientMemoryError,
    InvalidParameterError,
    LlamaBatch,
    LlamaContext,
    LlamaModel,
)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("n_ctx", -1),
        ("n_ctx", 2**25),
        ("n_batch", 0),
        ("n_ubatch", 4096),
        ("n_seq_max", 0),
        ("n_seq_max", 100_000),
        ("n_seq_max", 4097),
        ("n_threads", 0),
        ("n_threads", 1000),
        ("pooling", "median"),
        ("flash_attention", "maybe"),
        ("type_k", "q3_k"),
    ],
)
def test_out_of_range_options_are_refused(smollm: LlamaModel, option: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=option.split("_", maxsplit=1)[0]):
        LlamaContext(smollm, **{option: value})  # type: ignore[arg-type]


def test_context_too_large_for_memory_is_refused_before_allocation(smollm: LlamaModel) -> None:
    with pytest.raises(InsufficientMemoryError, match="GiB"):
        LlamaContext(smollm, n_ctx=2**24, type_k="f32", type_v="f32")


def test_sizes_and_sequence_memory(smollm: LlamaModel) -> None:
    with (
        LlamaContext(smollm, n_ctx=1024, n_batch=256, n_seq_max=4, kv_unified=True, n_threads=2) as context,
        LlamaBatch(256) as batch,
    ):
        assert context.n_ctx == 1024
        assert context.n_batch == 256
        assert context.n_ubatch == 256
        assert context.n_ctx_seq == 1024
        tokens = smollm.vocab.tokenize("A short shared prefix for two sequences.", add_special=True)
        batch.add_sequence(tokens, 0, 0)
        assert context.decode(batch) is DecodeOutcome.OK
        assert context.seq_pos_range(0) == (0, len(tokens) - 1)
        assert context.seq_pos_range(1) is None
        context.seq_cp(0, 1, 0, 5)
        assert context.seq_pos_range(1) == (0, 4)
        assert context.seq_rm(0, 3, -1)
        assert context.seq_pos_range(0) == (0, 2)
        context.seq_keep(1)
        assert context.seq_pos_range(0) is None
        context.memory_clear()
        assert context.seq_pos_range(1) is None


def test_partial_copy_needs_a_unified_cache(smollm: LlamaModel) -> None:
    with LlamaContext(smollm, n_ctx=1024, n_seq_max=2, n_threads=2) as context:
        assert context.n_ctx_seq == 512
        with pytest.raises(InvalidParameterError, match="kv_unified"):
            context.seq_cp(0, 1, 2, 4)


@pytest.mark.parametrize("seq_id", [-2, 4, 2**20])
def test_sequence_ids_are_range_checked(smollm: LlamaModel, seq_id: int) -> None:
    with LlamaContext(smollm, n_ctx=512, n_seq_max=4, n_threads=2) as context:
        with pytest.raises(InvalidParameterError, match="sequence id"):
            context.seq_rm(seq_id)
        with pytest.raises(InvalidParameterError, match="sequence id"):
            context.seq_pos_range(max(seq_id, -1))


def test_decode_checks_the_batch_against_the_context(smollm: LlamaModel) -> None:
    with LlamaContext(smollm, n_ctx=512, n_batch=8, n_seq_max=2, n_threads=2) as context:
        with LlamaBatch(16) as batch:
            with pytest.raises(InvalidParameterError, match="empty"):
                context.decode(batch)
            batch.add_sequence(list(range(1, 11)), 0, 0)
            with pytest.raises(InvalidParameterError, match="n_batch"):
                context.decode(batch)
        with LlamaBatch(4) as batch:
            batch.add(smollm.vocab.n_tokens, 0, 0)
            with pytest.raises(InvalidParameterError, match="vocabulary"):
                context.decode(batch)
        with LlamaBatch(4) as batch:
            batch.add(1, 0, 2)
            with pytest.raises(InvalidParameterError, match="n_seq_max"):
                context.decode(batch)


def test_outputs_are_readable_only_where_requested(smollm: LlamaModel) -> None:
    with LlamaContext(smollm, n_ctx=512, n_threads=2) as context, LlamaBatch(8) as batch:
        with pytest.raises(InvalidParameterError, match="no output"):
            context.get_logits(0)
        batch.add_sequence([1, 2, 3], 0, 0, output_last=True)
        assert context.decode(batch) is DecodeOutcome.OK
        assert context.get_logits(2).shape == (smollm.vocab.n_tokens,)
        assert not context.has_output(0)
        for index in (0, 3, -1):
            with pytest.raises(InvalidParameterError, match="no output"):
                context.get_logits(index)
        with pytest.raises(InvalidParameterError, match="embeddings off"):
            context.get_embeddings(2)


def test_abort_request_stops_decode(smollm: LlamaModel, caplog: pytest.LogCaptureFixture) -> None:
    with LlamaContext(smollm, n_ctx=512, n_threads=2) as context, LlamaBatch(64) as batch:
        batch.add_sequence(list(range(1, 65)), 0, 0)
        context.request_abort()
        with caplog.at_level(logging.DEBUG, logger="paddler.llama_cpp"):
            assert context.decode(batch) is DecodeOutcome.ABORTED
        # llama.cpp reports the abort as a failed graph; an abort the caller asked for is no error.
        records = [record for record in caplog.records if record.name == "paddler.llama_cpp"]
        assert any("failed" in record.getMessage() for record in records)
        assert all(record.levelno == logging.DEBUG for record in records)
        context.clear_abort()
        context.memory_clear()
        assert context.decode(batch) is DecodeOutcome.OK


def test_close_is_idempotent_and_use_after_close_raises(smollm: LlamaModel) -> None:
    context = LlamaContext(smollm, n_ctx=256, n_threads=2)
    context.close()
    context.close()
    assert context.closed
    with pytest.raises(ClosedHandleError):
        _ = context.n_ctx


def test_closing_the_model_closes_its_contexts(default_model_path: object) -> None:
    model = LlamaModel(default_model_path)  # type: ignore[arg-type]
    context = LlamaContext(model, n_ctx=256, n_threads=2)
    vocab = model.vocab
    model.close()
    assert context.closed
    with pytest.raises(ClosedHandleError):
        vocab.tokenize("gone")
    with pytest.raises(ClosedHandleError):
        LlamaContext(model)
    model.close()


def test_a_full_cache_is_reported_as_no_kv_slot_not_raised(smollm: LlamaModel) -> None:
    with (
        LlamaContext(smollm, n_ctx=512, n_batch=512, n_seq_max=2, kv_unified=True, n_threads=2) as context,
        LlamaBatch(512) as batch,
    ):
        batch.add_sequence(list(range(1, 301)), 0, 0)
        assert context.decode(batch) is DecodeOutcome.OK
        batch.clear()
        batch.add_sequence(list(range(1, 301)), 0, 1)
        assert context.decode(batch) is DecodeOutcome.NO_KV_SLOT
        assert context.seq_pos_range(1) is None, "a refused batch leaves nothing behind"
        context.seq_rm(0)
        assert context.decode(batch) is DecodeOutcome.OK
        assert context.get_logits(299).shape == (smollm.vocab.n_tokens,)


def test_a_saved_sequence_restores_into_another_with_identical_logits(smollm: LlamaModel) -> None:
    tokens = smollm.vocab.tokenize("Saving and restoring a sequence keeps its cache.", add_special=True)
    with LlamaContext(smollm, n_ctx=512, n_seq_max=2, kv_unified=True, n_threads=2) as context, LlamaBatch(64) as batch:
        batch.add_sequence(tokens, 0, 0)
        assert context.decode(batch) is DecodeOutcome.OK
        saved = context.save_sequence(0)
        assert len(saved) > 1000
        context.seq_rm(0)
        assert context.seq_pos_range(0) is None
        assert context.restore_sequence(1, saved)
        assert context.seq_pos_range(1) == (0, len(tokens) - 1)
        batch.clear()
        batch.add(tokens[-1], len(tokens), 1, output=True)
        assert context.decode(batch) is DecodeOutcome.OK
        restored_logits = context.get_logits(0)
        context.memory_clear()
        batch.clear()
        batch.add_sequence([*tokens, tokens[-1]], 0, 0)
        assert context.decode(batch) is DecodeOutcome.OK
        assert numpy.allclose(context.get_logits(batch.n_tokens - 1), restored_logits, atol=1e-2)
        assert not context.restore_sequence(1, b"garbage state")
        assert context.seq_pos_range(1) is None
