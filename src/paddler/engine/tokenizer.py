"""Request threads' one door into llama.cpp: tokenizing (and back) with the loaded model's vocabulary, and llama.cpp's
JSON schema -> grammar conversion. Everything else of llama.cpp belongs to the engine thread (model_runner).

Tokenizing is thread-safe in llama.cpp, but the vocabulary dies with its model: the engine thread attaches
the vocabulary once the model is loaded and, holding this facade's lock, detaches it before freeing the
model, so a request thread tokenizing meanwhile gets EngineUnavailableError, never freed memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from paddler.engine.engine_errors import EngineUnavailableError, GrammarConversionError, InvalidRequestError
from paddler.engine.engine_state import EngineState
from paddler.engine.prompt_media import PromptMedia, prompt_media
from paddler.llama import GrammarError, LlamaMultimodal, LlamaVocab, TokenizeError, json_schema_to_grammar
from paddler.messages.generate_tokens_params import GrammarConstraint
from paddler.messages.prompt_image import IMAGE_MARKER, PromptImage

# While recovering the model is still loaded: requests queue for the rebuilt contexts.
_TOKENIZING_STATES = (EngineState.READY, EngineState.RECOVERING)


def _unavailable(state: EngineState) -> EngineUnavailableError:
    return EngineUnavailableError(f"the engine is {state.value}")


def _check_ids(tokens: list[int], n_tokens: int) -> None:
    for token in tokens:
        if not 0 <= token < n_tokens:
            raise InvalidRequestError(f"token id {token} is not in the vocabulary (0 to {n_tokens - 1})")


class Tokenizer:
    def __init__(self, engine_state: Callable[[], EngineState]) -> None:
        self._engine_state = engine_state
        self._lock = threading.Lock()
        self._vocab: LlamaVocab | None = None
        self._multimodal: LlamaMultimodal | None = None

    def attach(self, vocab: LlamaVocab, multimodal: LlamaMultimodal | None = None) -> None:
        """Engine thread, once the model (and its projector, when it has one) is loaded."""
        with self._lock:
            self._vocab = vocab
            self._multimodal = multimodal

    @contextmanager
    def detached(self) -> Iterator[None]:
        """Engine thread, around freeing the model: no request thread uses the vocabulary meanwhile,
        and none gets it after."""
        with self._lock:
            self._vocab = None
            self._multimodal = None
            yield

    @contextmanager
    def _serving_vocab(self) -> Iterator[LlamaVocab]:
        """The vocabulary, held under the lock. Raises EngineUnavailableError unless the engine serves (or
        is recovering)."""
        with self._lock:
            state = self._engine_state()
            if self._vocab is None or state not in _TOKENIZING_STATES:
                raise _unavailable(state)
            yield self._vocab

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        """Raises EngineUnavailableError unless the engine serves (or is recovering)."""
        with self._serving_vocab() as vocab:
            return vocab.tokenize(text, add_special=add_special, parse_special=parse_special)

    def tokenize_with_images(self, prompt: str, images: tuple[PromptImage, ...]) -> tuple[list[int], PromptMedia]:
        """The tokens of a prompt holding IMAGE_MARKER once per image (each image a run of pseudo-tokens,
        see engine/prompt_media.py) and its media. Raises InvalidRequestError when no projector is
        loaded or the images do not match the markers, EngineUnavailableError as tokenize."""
        pieces = prompt.split(IMAGE_MARKER)
        if len(pieces) != len(images) + 1:
            raise InvalidRequestError(
                f"the rendered prompt holds {len(pieces) - 1} image places for {len(images)} images "
                "(the chat template dropped or repeated a message with an image)"
            )
        parts: list[str | tuple[int, int, bytes, str]] = [pieces[0]]
        for image, text in zip(images, pieces[1:], strict=True):
            parts.append((image.width, image.height, image.rgb, image.digest))
            parts.append(text)
        parts = [part for part in parts if part != ""]
        with self._serving_vocab():
            if self._multimodal is None:
                raise InvalidRequestError("received images but model does not support multimodal input")
            multimodal = self._multimodal
            try:
                chunks = multimodal.tokenize(parts, add_special=True, parse_special=True)
            except TokenizeError as error:
                raise InvalidRequestError(f"failed to tokenize multimodal input: {error}") from None
            return prompt_media(chunks, lambda index: multimodal.needs_one_micro_batch(chunks, index))

    def detokenize(self, tokens: list[int]) -> str:
        """The text of `tokens`, special tokens written out. Raises InvalidRequestError for an id outside
        the vocabulary, EngineUnavailableError as tokenize."""
        with self._serving_vocab() as vocab:
            _check_ids(tokens, vocab.n_tokens)
            return vocab.detokenize(tokens, unparse_special=True)

    def pieces(self, tokens: list[int]) -> list[bytes]:
        """Each token's bytes (a piece may be part of a UTF-8 character). Raises as detokenize."""
        with self._serving_vocab() as vocab:
            _check_ids(tokens, vocab.n_tokens)
            return [vocab.token_to_piece(token, special=True) for token in tokens]

    def stand_in_token(self) -> int | None:
        """What a BOS-adding model sees for an empty text: its BOS token, else its EOS token."""
        with self._lock:
            if self._vocab is None:
                raise _unavailable(self._engine_state())
            return self._vocab.bos if self._vocab.bos is not None else self._vocab.eos

    @staticmethod
    def json_schema_grammar(schema: str) -> GrammarConstraint:
        """The GBNF grammar of a JSON schema, by llama.cpp's converter (pure computation: no model, no
        lock). Raises GrammarConversionError."""
        try:
            return GrammarConstraint(json_schema_to_grammar(schema), "root")
        except GrammarError as error:
            raise GrammarConversionError(str(error)) from None
