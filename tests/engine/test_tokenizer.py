"""The tokenizer facade: request threads tokenize only while a model is attached and the engine serves,
and the model is never freed under a tokenize that is still running."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from paddler.engine.engine_errors import EngineUnavailableError, GrammarConversionError
from paddler.engine.engine_state import EngineState
from paddler.engine.tokenizer import Tokenizer
from paddler.llama import LlamaModel


def test_tokenizing_needs_an_attached_model_and_a_serving_engine(vocab_models_dir: Path) -> None:
    states = [EngineState.LOADING]
    tokenizer = Tokenizer(lambda: states[-1])
    with pytest.raises(EngineUnavailableError, match="the engine is loading"):
        tokenizer.tokenize("hello", add_special=False, parse_special=False)
    with LlamaModel(vocab_models_dir / "ggml-vocab-llama-bpe.gguf", vocab_only=True) as model:
        tokenizer.attach(model.vocab)
        with pytest.raises(EngineUnavailableError, match="the engine is loading"):
            tokenizer.tokenize("hello", add_special=False, parse_special=False)
        for serving in (EngineState.READY, EngineState.RECOVERING):
            states.append(serving)
            assert tokenizer.tokenize("hello", add_special=False, parse_special=False) == model.vocab.tokenize(
                "hello", add_special=False
            )
        assert tokenizer.stand_in_token() == model.vocab.bos
        with tokenizer.detached():
            pass
    with pytest.raises(EngineUnavailableError, match="the engine is recovering"):
        tokenizer.tokenize("hello", add_special=False, parse_special=False)
    with pytest.raises(EngineUnavailableError):
        tokenizer.stand_in_token()


def test_the_model_is_detached_only_once_no_request_thread_holds_it(vocab_models_dir: Path) -> None:
    tokenizer = Tokenizer(lambda: EngineState.READY)
    with LlamaModel(vocab_models_dir / "ggml-vocab-llama-bpe.gguf", vocab_only=True) as model:
        tokenizer.attach(model.vocab)
        stop = threading.Event()
        outcomes: list[str] = []

        def tokenize_until_detached() -> None:
            while not stop.is_set():
                try:
                    tokenizer.tokenize("a longer text " * 200, add_special=True, parse_special=False)
                except EngineUnavailableError:
                    outcomes.append("unavailable")
                    return
            outcomes.append("stopped")

        threads = [threading.Thread(target=tokenize_until_detached) for _ in range(4)]
        for thread in threads:
            thread.start()
        with tokenizer.detached():
            stop.set()
        for thread in threads:
            thread.join(10)
    assert len(outcomes) == 4


def test_a_json_schema_becomes_a_grammar_and_a_bad_one_a_conversion_error() -> None:
    grammar = Tokenizer.json_schema_grammar('{"type": "object", "properties": {"a": {"type": "integer"}}}')
    assert grammar.root == "root"
    assert "root ::=" in grammar.grammar
    with pytest.raises(GrammarConversionError):
        Tokenizer.json_schema_grammar('{"type": "no such type"}')
