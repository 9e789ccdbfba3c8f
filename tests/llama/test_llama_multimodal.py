"""The multimodal projector through the binding: loading next to a model, prompts with images tokenized
into chunks, and an image written into a sequence between text decodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest

from paddler.llama import (
    DecodeError,
    DecodeOutcome,
    InvalidParameterError,
    LlamaBatch,
    LlamaContext,
    LlamaModel,
    LlamaMultimodal,
    ModelFileNotFoundError,
    ModelLoadError,
)

PIXELS = bytes(numpy.random.default_rng(0).integers(0, 256, size=40 * 30 * 3, dtype=numpy.uint8))


@pytest.fixture(scope="module")
def projector(smollm: LlamaModel, tiny_projector_path: Path) -> Iterator[LlamaMultimodal]:
    with LlamaMultimodal(smollm, tiny_projector_path, n_threads=2) as loaded:
        yield loaded


def test_a_projector_loads_next_to_its_model_and_reads_images(projector: LlamaMultimodal) -> None:
    assert projector.supports_vision
    assert not projector.supports_audio
    assert not projector.uses_mrope


def test_a_missing_or_foreign_projector_file_is_refused(smollm: LlamaModel, default_model_path: Path) -> None:
    with pytest.raises(ModelFileNotFoundError):
        LlamaMultimodal(smollm, "/nonexistent/mmproj.gguf")
    with pytest.raises(ModelLoadError, match="multimodal projector"):
        LlamaMultimodal(smollm, default_model_path)


def test_a_prompt_with_an_image_becomes_text_image_and_text_chunks(projector: LlamaMultimodal) -> None:
    chunks = projector.tokenize(["User: look ", (40, 30, PIXELS, "digest-1"), " and say"], add_special=True)
    assert [chunks.kind(index) for index in range(len(chunks))] == ["text", "image", "text"]
    assert chunks.n_tokens(1) == chunks.n_positions(1) == 4
    assert chunks.chunk_id(1) == "digest-1"
    assert chunks.chunk_id(0) is None
    vocab = projector.model.vocab
    head = vocab.tokenize("User: look ", add_special=True, parse_special=True)
    # The projector's own text around the image (Gemma 3's <start_of_image>) follows the prompt's.
    assert list(chunks.text_tokens(0))[: len(head)] == head
    with pytest.raises(InvalidParameterError):
        chunks.text_tokens(1)
    with pytest.raises(InvalidParameterError):
        chunks.kind(3)


def test_malformed_images_are_refused_before_they_reach_c(projector: LlamaMultimodal) -> None:
    with pytest.raises(InvalidParameterError, match="bytes"):
        projector.tokenize(["a", (40, 30, PIXELS[:-1], "x")])
    with pytest.raises(InvalidParameterError, match="pixels a side"):
        projector.tokenize(["a", (0, 30, b"", "x")])


def test_an_image_is_written_into_a_sequence_between_text_decodes(
    smollm: LlamaModel, projector: LlamaMultimodal
) -> None:
    chunks = projector.tokenize(["User: look ", (40, 30, PIXELS, "digest-1"), " and say"], add_special=True)
    with LlamaContext(smollm, n_ctx=256, n_batch=64, n_seq_max=2, n_threads=2, kv_unified=True) as context:
        batch = LlamaBatch(64)
        head = chunks.text_tokens(0)
        batch.add_sequence(head, 0, 1, output_last=False)
        assert context.decode(batch) is DecodeOutcome.OK
        after_image = projector.evaluate_image(context, chunks, 1, len(head), 1, 64)
        assert after_image == len(head) + 4
        assert context.seq_pos_range(1) == (0, after_image - 1)
        batch.clear()
        tail = chunks.text_tokens(2)
        last = batch.add_sequence(tail, after_image, 1, output_last=True)
        assert context.decode(batch) is DecodeOutcome.OK
        assert numpy.isfinite(context.get_logits(last)).all()
        with pytest.raises(InvalidParameterError, match="not an image"):
            projector.evaluate_image(context, chunks, 0, 0, 0, 64)
        # A gap in positions: llama.cpp's reason comes back in the error.
        with pytest.raises(DecodeError, match="consecutive"):
            projector.evaluate_image(context, chunks, 1, after_image + 10, 1, 64)


def test_gemma_3_style_images_must_be_decoded_in_one_micro_batch(projector: LlamaMultimodal) -> None:
    chunks = projector.tokenize(["look ", (40, 30, PIXELS, "digest-1"), " now"])
    assert projector.needs_one_micro_batch(chunks, 1)
