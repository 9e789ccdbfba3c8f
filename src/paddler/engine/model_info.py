"""Plain facts about a model, read once it is loaded and safe to hand to any thread."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelInfo:
    path: str
    description: str
    n_params: int
    size_bytes: int
    n_ctx_train: int
    n_embd: int
    n_vocab: int
    chat_template: str | None
    metadata: dict[str, str]
    bos_text: str
    eos_text: str
    # The separator token's text ("" when the vocabulary has none): rerankers read a query and a document
    # joined by EOS then SEP, as llama-server joins them.
    sep_text: str
    vocab_type: str
    # A multimodal projector is loaded next to the model and reads images.
    supports_images: bool = False
