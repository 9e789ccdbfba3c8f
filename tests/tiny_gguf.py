"""Tiny GGUF models with random weights, written with llama.cpp's own (vendored) gguf-py, for the
architectures no package ships small: what they compute is noise, how llama.cpp runs them is real."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy
import numpy.typing

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


def _add_layer(add: Callable[..., None], prefix: str, output: str, n_embd: int, n_ff: int) -> None:
    """One encoder layer's random weights and biases: attention (q, k, v, `output`), then feed-forward."""
    for name in ("attn_q", "attn_k", "attn_v", output):
        add(f"{prefix}.{name}.weight", n_embd, n_embd)
        add(f"{prefix}.{name}.bias", n_embd)
    add(f"{prefix}.ffn_up.weight", n_ff, n_embd)
    add(f"{prefix}.ffn_up.bias", n_ff)
    add(f"{prefix}.ffn_down.weight", n_embd, n_ff)
    add(f"{prefix}.ffn_down.bias", n_embd)


def write_tiny_bert(
    target: Path, vocab_model: Path, *, n_ctx_train: int, n_embd: int = 64, reranker: bool = False
) -> Path:
    """A one-layer BERT whose position table has `n_ctx_train` rows, with the tokenizer of `vocab_model`;
    a `reranker` has rank pooling and a classifier head with one output (a relevance score)."""
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
    writer.add_pooling_type(gguf.PoolingType.RANK if reranker else gguf.PoolingType.MEAN)
    if reranker:
        writer.add_array("bert.classifier.output_labels", ["relevant"])
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
    _add_layer(add, "blk.0", "attn_output", n_embd, n_ff)
    add_norm("blk.0.attn_output_norm")
    add_norm("blk.0.layer_output_norm")
    if reranker:
        add("cls.weight", n_embd, n_embd)
        add("cls.bias", n_embd)
        add("cls.output.weight", 1, n_embd)
        add("cls.output.bias", 1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def write_tiny_mamba(target: Path, vocab_model: Path, *, n_embd: int = 64, n_layer: int = 2) -> Path:
    """A small Mamba (a recurrent model: one state per sequence) with the tokenizer of `vocab_model`."""
    gguf = _gguf()
    n_vocab = len(gguf.GGUFReader(vocab_model).fields["tokenizer.ggml.tokens"].data)
    d_inner, d_state, d_conv, dt_rank = 2 * n_embd, 16, 4, 4
    writer = gguf.GGUFWriter(target, "mamba")
    writer.add_name("tiny-random-mamba")
    writer.add_context_length(4096)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(0)
    writer.add_head_count(0)
    writer.add_ssm_conv_kernel(d_conv)
    writer.add_ssm_inner_size(d_inner)
    writer.add_ssm_state_size(d_state)
    writer.add_ssm_time_step_rank(dt_rank)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _copy_tokenizer(gguf, vocab_model, writer)
    generator = numpy.random.default_rng(0)

    def add(name: str, values: numpy.typing.NDArray[numpy.float64]) -> None:
        writer.add_tensor(name, values.astype(numpy.float32))

    def noise(*shape: int) -> numpy.typing.NDArray[numpy.float64]:
        return generator.standard_normal(shape) * 0.1

    add("token_embd.weight", noise(n_vocab, n_embd))
    add("output_norm.weight", numpy.ones(n_embd))
    for layer in range(n_layer):
        prefix = f"blk.{layer}"
        add(f"{prefix}.attn_norm.weight", numpy.ones(n_embd))
        add(f"{prefix}.ssm_in.weight", noise(2 * d_inner, n_embd))
        add(f"{prefix}.ssm_conv1d.weight", noise(d_inner, d_conv))
        add(f"{prefix}.ssm_conv1d.bias", noise(d_inner))
        add(f"{prefix}.ssm_x.weight", noise(dt_rank + 2 * d_state, d_inner))
        add(f"{prefix}.ssm_dt.weight", noise(d_inner, dt_rank))
        add(f"{prefix}.ssm_dt.bias", noise(d_inner))
        # A = -exp(A_log) in the reference: negative, so the state decays.
        add(f"{prefix}.ssm_a", -numpy.exp(noise(d_inner, d_state)))
        add(f"{prefix}.ssm_d", numpy.ones(d_inner))
        add(f"{prefix}.ssm_out.weight", noise(n_embd, d_inner))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def write_without_chat_template(source: Path, target: Path) -> Path:
    """A copy of `source` whose tokenizer.chat_template key is gone, by gguf-py's own metadata rewriter."""
    script = llama_cpp_dir() / "gguf-py" / "gguf" / "scripts" / "gguf_new_metadata.py"
    environment = {**os.environ, "PYTHONPATH": str(llama_cpp_dir() / "gguf-py")}
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--remove-metadata",
            "tokenizer.chat_template",
            "--force",
            str(source),
            str(target),
        ],
        check=True,
        capture_output=True,
        env=environment,
    )
    return target


def write_tiny_projector(
    target: Path, *, n_embd_text: int, image_size: int = 56, patch_size: int = 14, merge: int = 2
) -> Path:
    """A Gemma-3-style vision projector (one SigLIP layer, average pooling, a projection to `n_embd_text`):
    an image becomes ((image_size / patch_size) / merge)^2 embeddings, 4 with the defaults."""
    gguf = _gguf()
    n_embd, n_ff, n_patches = 64, 128, (image_size // patch_size) ** 2
    writer = gguf.GGUFWriter(target, "clip")
    writer.add_name("tiny-random-projector")
    writer.add_string("clip.projector_type", "gemma3")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.embedding_length", n_embd)
    writer.add_uint32("clip.vision.feed_forward_length", n_ff)
    writer.add_uint32("clip.vision.block_count", 1)
    writer.add_uint32("clip.vision.projection_dim", n_embd_text)
    writer.add_uint32("clip.vision.attention.head_count", 2)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_uint32("clip.vision.image_size", image_size)
    writer.add_uint32("clip.vision.patch_size", patch_size)
    writer.add_uint32("clip.vision.projector.scale_factor", merge)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    generator = numpy.random.default_rng(0)

    def add(name: str, *shape: int) -> None:
        writer.add_tensor(name, (generator.standard_normal(shape) * 0.02).astype(numpy.float32))

    def add_norm(name: str, width: int = n_embd) -> None:
        writer.add_tensor(f"{name}.weight", numpy.ones(width, dtype=numpy.float32))
        writer.add_tensor(f"{name}.bias", numpy.zeros(width, dtype=numpy.float32))

    add("v.patch_embd.weight", n_embd, 3, patch_size, patch_size)
    add("v.patch_embd.bias", n_embd)
    add("v.position_embd.weight", n_patches, n_embd)
    _add_layer(add, "v.blk.0", "attn_out", n_embd, n_ff)
    add_norm("v.blk.0.ln1")
    add_norm("v.blk.0.ln2")
    add_norm("v.post_ln")
    writer.add_tensor("mm.soft_emb_norm.weight", numpy.ones(n_embd, dtype=numpy.float32))
    add("mm.input_projection.weight", n_embd, n_embd_text)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
