"""Estimate of a context's KV-cache size, so a context that cannot fit is refused before llama.cpp
allocates it: an over-committed allocation is only noticed when the kernel kills the process."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

# Bytes per element of the KV cache types we accept (block size / bytes per block for quantized).
KV_CACHE_TYPE_BYTES = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}
# llama.cpp rounds the context up to a multiple of this.
CONTEXT_PADDING = 256


class ModelShape(Protocol):
    @property
    def n_layer(self) -> int: ...
    @property
    def n_head(self) -> int: ...
    @property
    def n_head_kv(self) -> int: ...
    @property
    def n_embd(self) -> int: ...
    @property
    def metadata(self) -> dict[str, str]: ...


def _head_dimension(model: ModelShape, kind: str) -> int:
    metadata = model.metadata
    architecture = metadata.get("general.architecture", "")
    declared = metadata.get(f"{architecture}.attention.{kind}_length")
    if declared and declared.isdigit():
        return int(declared)
    return model.n_embd // max(model.n_head, 1)


def estimate_kv_cache_bytes(model: ModelShape, n_ctx: int, type_k: str, type_v: str) -> int:
    padded = -(-n_ctx // CONTEXT_PADDING) * CONTEXT_PADDING
    per_token_per_layer = model.n_head_kv * (
        _head_dimension(model, "key") * KV_CACHE_TYPE_BYTES[type_k]
        + _head_dimension(model, "value") * KV_CACHE_TYPE_BYTES[type_v]
    )
    return int(padded * model.n_layer * per_token_per_layer)


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, or None where the platform does not tell."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None
