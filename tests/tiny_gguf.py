"""Tiny GGUF models with random weights, written with llama.cpp's own (vendored) gguf-py, for the
architectures no package ships small: what they compute is noise, how llama.cpp runs them is real."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy

from tests.conftest import llama_cpp_dir


def _gguf() -> ModuleType:
    path = str(llama_cpp_dir() / "gguf-py")
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("gguf")


def _copy_tokenizer(gguf: ModuleType, vocab_model: Path, writer: object) -> None:
    """Every tokenizer.* key of a vocab-only GGUF from vendor/llama.cpp/models/."""
    reader = gguf.GGUFReader(vocab_model)
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type=sub_type)  # type: ignore[attr-defined]


def write_tiny_bert(target: Path, vocab_model: Path, *, n_ctx_train: int, n_embd: int = 64) -> Path:
    """A one-layer BERT whose position table has `n_ctx_train` rows, with the tokenizer of `vocab_model`."""
    gguf = _gguf()
    n_vocab = len(gguf.GGUFReader(vocab_model).fields["tokenizer.ggml.tokens"].data)
    n_ff = 2 * n_embd
    writer = gguf.GGUFWriter(target, "bert")
    writer.add_name("tiny-random-bert")
    writer.add_context_length(n_ctx_train)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(1)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(2)  # heads of 32: a q8_0 KV cache needs a multiple of its block
    writer.add_layer_norm_eps(1e-12)
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _copy_tokenizer(gguf, vocab_model, writer)
    generator = numpy.random.default_rng(0)

    def add(name: str, *shape: int) -> None:
        # gguf-py takes numpy's shape (rows last in llama.cpp's order).
        writer.add_tensor(name, (generator.standard_normal(shape) * 0.02).astype(numpy.float32))

    def add_norm(name: str) -> None:
        writer.add_tensor(f"{name}.weight", numpy.ones(n_embd, dtype=numpy.float32))
        writer.add_tensor(f"{name}.bias", numpy.zeros(n_embd, dtype=numpy.float32))

    add("token_embd.weight", n_vocab, n_embd)
    add("token_types.weight", 2, n_embd)
    add("position_embd.weight", n_ctx_train, n_embd)
    add_norm("token_embd_norm")
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        add(f"blk.0.{name}.weight", n_embd, n_embd)
        add(f"blk.0.{name}.bias", n_embd)
    add_norm("blk.0.attn_output_norm")
    add("blk.0.ffn_up.weight", n_ff, n_embd)
    add("blk.0.ffn_up.bias", n_ff)
    add("blk.0.ffn_down.weight", n_embd, n_ff)
    add("blk.0.ffn_down.bias", n_embd)
    add_norm("blk.0.layer_output_norm")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
