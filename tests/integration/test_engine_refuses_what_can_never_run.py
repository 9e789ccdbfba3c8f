"""Requests that can never run are refused clearly, before anything streams, and the engine carries on."""

from __future__ import annotations

from pathlib import Path

import pytest

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_errors import (
    EmptyPromptError,
    EngineStartError,
    EngineUnavailableError,
    RequestTooLargeError,
)
from paddler.engine.engine_settings import EngineSettings, KvLayout
from paddler.engine.engine_state import EngineState
from paddler.messages.embedding_normalization import L2_NORMALIZATION
from paddler.messages.embedding_result import DocumentEmbedding, EmbeddingsDone
from paddler.messages.generate_embedding_batch_params import EmbeddingDocument, GenerateEmbeddingBatchParams
from paddler.messages.generate_tokens_params import GenerateTokensParams, GrammarConstraint
from paddler.messages.generated_token_result import GenerationDone, GenerationErrorKind, GenerationFailed
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt


def test_prompt_plus_max_tokens_beyond_the_slot_is_refused(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2, context_size=512, kv_layout=KvLayout.PER_SLOT)
    assert engine.max_sequence_tokens == 256
    with pytest.raises(RequestTooLargeError, match="a slot holds 256 tokens"):
        engine.submit_generation(GenerateTokensParams(chat_prompt("word " * 300), 10, GREEDY))
    with pytest.raises(RequestTooLargeError, match="max_tokens 250"):
        engine.submit_generation(GenerateTokensParams(chat_prompt("Hi"), 250, GREEDY))
    assert isinstance(
        list(engine.submit_generation(GenerateTokensParams(chat_prompt("Hi"), 8, GREEDY)))[-1], GenerationDone
    )


def test_a_bad_grammar_ends_the_request_with_its_reason(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    params = GenerateTokensParams(chat_prompt("Hi"), 8, GREEDY, GrammarConstraint('root ::= "unterminated'))
    results = list(engine.submit_generation(params))
    assert len(results) == 1
    failure = results[0]
    assert isinstance(failure, GenerationFailed)
    assert failure.kind is GenerationErrorKind.GRAMMAR_INITIALIZATION_FAILED
    assert "grammar" in failure.message
    assert engine.stats().slots_processing == 0


def test_a_model_that_cannot_load_fails_the_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model")
    engine = ContinuousBatchEngine(EngineSettings(model_path=broken, threads=2))
    with pytest.raises(EngineStartError, match="bad magic"):
        engine.start()
    assert engine.state is EngineState.FAILED
    with pytest.raises(EngineUnavailableError):
        engine.submit_generation(GenerateTokensParams("hi", 4))
    engine.stop(timeout=1.0)


def test_disabled_modes_are_refused(engine_factory: EngineFactory) -> None:
    engine = engine_factory(enable_generation=False, enable_embeddings=True)
    with pytest.raises(EngineUnavailableError, match="generation is disabled"):
        engine.submit_generation(GenerateTokensParams("hi", 4))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slots", 0),
        ("slots", 300),
        ("n_ubatch", 4096),
        ("pooling_type", "median"),
        ("k_cache_type", "q3"),
        ("max_buffered_requests", -1),
        ("threads", 0),
    ],
)
def test_settings_are_checked(default_model_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field.split("_", maxsplit=1)[0]):
        EngineSettings(model_path=default_model_path, **{field: value})  # type: ignore[arg-type]


def test_an_enormous_prompt_is_refused_before_tokenizing(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    with pytest.raises(RequestTooLargeError, match="characters"):
        engine.submit_generation(GenerateTokensParams("x" * (8 * 1024 * 1024 + 1), 4, GREEDY))


def test_an_empty_prompt_is_refused_and_an_empty_document_still_embeds(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1, enable_embeddings=True)
    with pytest.raises(EmptyPromptError):
        engine.submit_generation(GenerateTokensParams("", 4, GREEDY))

    def embed(text: str) -> tuple[float, ...]:
        batch = GenerateEmbeddingBatchParams((EmbeddingDocument("d", text),), L2_NORMALIZATION)
        (vector, done) = list(engine.submit_embeddings(batch))
        assert isinstance(vector, DocumentEmbedding), vector
        assert isinstance(done, EmbeddingsDone)
        return tuple(vector.embedding)

    empty = embed("")
    assert len(empty) == 576
    assert empty == embed(""), "an empty document has one defined vector"
    assert empty != embed("cats")
    # The engine carries on generating.
    assert isinstance(
        list(engine.submit_generation(GenerateTokensParams(chat_prompt("Hi"), 4, GREEDY)))[-1], GenerationDone
    )
