"""Tokenization on llama.cpp's vocab-only GGUFs: its own expected outputs, round trips, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paddler.llama import InvalidParameterError, LlamaModel, LlamaVocab

SEPARATOR = b"\n__ggml_vocab_test__\n"
# (file, tokenizer family, detokenize(tokenize(text)) == text for plain text)
VOCABS = [
    ("ggml-vocab-llama-spm.gguf", "spm", True),
    ("ggml-vocab-llama-bpe.gguf", "bpe", True),
    ("ggml-vocab-qwen2.gguf", "bpe", True),
    ("ggml-vocab-gpt-2.gguf", "bpe", True),
    ("ggml-vocab-bert-bge.gguf", "wpm", False),
]
MULTILINGUAL = [
    "Hello, world!",
    "emoji 🦙🔥👩‍👩‍👧 and flags 🇫🇷",
    "中文测试：你好，世界。日本語のテキスト、한국어",
    "mixed café naïve Ünïcödé — “quotes” …",
    "  leading and trailing spaces  \n\ttabs\n",
]


@pytest.fixture(scope="module", params=VOCABS, ids=[name for name, _, _ in VOCABS])
def vocab_case(request: pytest.FixtureRequest, vocab_models_dir: Path) -> Iterator[tuple[LlamaVocab, str, bool, Path]]:
    file_name, family, lossless = request.param
    path = vocab_models_dir / file_name
    with LlamaModel(path, vocab_only=True) as model:
        yield model.vocab, family, lossless, path


def _expected_cases(path: Path) -> list[tuple[bytes, list[int]]]:
    raw = Path(f"{path}.inp").read_bytes()
    inputs = raw.removesuffix(SEPARATOR).split(SEPARATOR)
    outputs = Path(f"{path}.out").read_text().splitlines()
    assert len(inputs) == len(outputs)
    return [(text, [int(token) for token in line.split()]) for text, line in zip(inputs, outputs, strict=True)]


def test_vocab_reports_its_family(vocab_case: tuple[LlamaVocab, str, bool, Path]) -> None:
    vocab, family, _, _ = vocab_case
    assert vocab.type == family
    assert vocab.n_tokens > 1000


def test_tokenize_matches_llama_cpp_reference_outputs(vocab_case: tuple[LlamaVocab, str, bool, Path]) -> None:
    vocab, _, _, path = vocab_case
    cases = _expected_cases(path)
    assert len(cases) > 10
    for text, expected in cases:
        assert vocab.tokenize(text.decode("utf-8"), add_special=False) == expected, text


@pytest.mark.parametrize("text", MULTILINGUAL)
def test_round_trip_is_lossless(vocab_case: tuple[LlamaVocab, str, bool, Path], text: str) -> None:
    vocab, _, lossless, _ = vocab_case
    tokens = vocab.tokenize(text, add_special=False)
    assert tokens
    if lossless:
        assert vocab.detokenize(tokens) == text
    else:
        # WordPiece lowercases and drops accents and spacing; its words must still come back.
        assert "hello" in vocab.detokenize(vocab.tokenize("Hello, world!", add_special=False))


def test_character_split_across_tokens_reassembles_from_pieces(vocab_models_dir: Path) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-gpt-2.gguf", vocab_only=True) as model:
        vocab = model.vocab
        tokens = vocab.tokenize("🦙", add_special=False)
        pieces = [vocab.token_to_piece(token) for token in tokens]
        assert len(pieces) > 1, "the llama emoji should need several byte-level tokens"
        for piece in pieces:
            with pytest.raises(UnicodeDecodeError):
                piece.decode("utf-8")
        assert b"".join(pieces).decode("utf-8") == "🦙"


def test_nul_characters_are_kept_not_truncated(vocab_models_dir: Path) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-llama-bpe.gguf", vocab_only=True) as model:
        vocab = model.vocab
        text = "before\x00after"
        tokens = vocab.tokenize(text, add_special=False)
        assert vocab.detokenize(tokens) == text


def test_lone_surrogates_and_malformed_utf8_become_replacement_characters(vocab_models_dir: Path) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-llama-bpe.gguf", vocab_only=True) as model:
        vocab = model.vocab
        from_surrogate = vocab.detokenize(vocab.tokenize("a\ud800b", add_special=False))
        from_bytes = vocab.detokenize(vocab.tokenize(b"a\xff\xfeb", add_special=False))
        assert from_surrogate == "a\ufffdb"
        assert from_bytes == "a\ufffd\ufffdb"


def test_special_tokens_and_eog(vocab_models_dir: Path) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-llama-bpe.gguf", vocab_only=True) as model:
        vocab = model.vocab
        assert vocab.bos is not None
        assert vocab.tokenize("hi", add_special=True)[0] == vocab.bos
        assert vocab.eos is not None
        assert vocab.is_eog(vocab.eos)
        assert vocab.eos in vocab.eog_tokens()
        assert not vocab.is_eog(vocab.tokenize("hi", add_special=False)[0])
        special_text = vocab.token_to_piece(vocab.eos, special=True).decode()
        assert vocab.tokenize(special_text, add_special=False, parse_special=True) == [vocab.eos]
        assert vocab.tokenize(special_text, add_special=False, parse_special=False) != [vocab.eos]


def test_long_text_needs_a_resized_buffer(vocab_models_dir: Path) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-llama-spm.gguf", vocab_only=True) as model:
        vocab = model.vocab
        text = "🦙" * 2000  # SPM byte fallback: more tokens than there are UTF-8 bytes / 4
        tokens = vocab.tokenize(text, add_special=True)
        assert vocab.detokenize(tokens, remove_special=True).strip() == text


@pytest.mark.parametrize("token", [-1, 10**9, 2**31])
def test_out_of_range_token_ids_are_refused_before_c(vocab_models_dir: Path, token: int) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-gpt-2.gguf", vocab_only=True) as model:
        vocab = model.vocab
        with pytest.raises((InvalidParameterError, OverflowError)):
            vocab.token_to_piece(token)
        with pytest.raises((InvalidParameterError, OverflowError)):
            vocab.detokenize([1, token])
        with pytest.raises((InvalidParameterError, OverflowError)):
            vocab.is_eog(token)


def test_tokenize_rejects_non_text(vocab_models_dir: Path) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-gpt-2.gguf", vocab_only=True) as model, pytest.raises(TypeError):
        model.vocab.tokenize(42)  # type: ignore[arg-type]
