"""Everything the engine is configured with, checked once when it is built."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from paddler.engine.injected_fault import InjectedFault
from paddler.messages.sampling_params import SamplingParams

MAX_SLOTS = 256
POOLING_TYPES = ("none", "mean", "cls", "last", "rank")
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


class KvLayout(StrEnum):
    """How the slots share the generation context's KV cells."""

    # A stream per slot while every request fits one, one pool while a request needs more; each switch
    # carries every cache over (ModelRunner.switch_layout). The per-slot speed under concurrency and the
    # whole context for one long request. A model whose memory cannot move keeps the pool.
    ADAPTIVE = "adaptive"
    # One pool (Paddler's model): one request may use it all, but every sequence attends over every
    # slot's cells, which slows decoding under concurrency.
    UNIFIED = "unified"
    # context_size / slots cells per slot, each in a KV stream of its own (llama-server -np N).
    PER_SLOT = "per-slot"


def default_threads() -> int:
    """Half the cores, at least two (Paddler's rule): decoding is memory-bound, more threads only contend."""
    return max(2, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    model_path: Path
    # A multimodal projector (mmproj GGUF) for the model: requests may then carry images.
    projector_path: Path | None = None
    # Images larger than this on either side are scaled down to fit before encoding (Paddler's
    # image_resize_to_fit); the projector then resizes them to what it reads.
    image_resize_to_fit: int = 1024
    # Concurrent requests; each generating request holds one sequence of the shared context.
    slots: int = 4
    # KV cells of the generation context: shared by every slot in one pool, or context_size / slots per
    # slot in a stream each, or either as the requests need (see KvLayout and docs/engine.md).
    context_size: int = 8192
    kv_layout: KvLayout = KvLayout.ADAPTIVE
    n_batch: int = 2048
    n_ubatch: int = 512
    # Prompt tokens decoded per step while other requests generate (chunked prefill): each running
    # stream waits at most for this many prompt tokens per token it gets; 0 sizes it from measured step
    # times (engine/prefill_budget.py). Nothing generating, prompts take the whole batch.
    prefill_budget: int = 0
    threads: int = field(default_factory=default_threads)
    n_gpu_layers: int = 0
    k_cache_type: str = "q8_0"
    v_cache_type: str = "q8_0"
    flash_attention: str = "auto"
    enable_generation: bool = True
    enable_embeddings: bool = False
    pooling_type: str = "last"
    # Documents decoded together in one embedding batch (sequences of the embedding context).
    embedding_batch_sequences: int = 64
    # A new request takes the longest cached prefix of its prompt from any slot, busy ones included, instead
    # of its own slot's only (engine/prefix_sharing.py); off, each slot reuses only its own cache.
    prefix_sharing: bool = True
    # Host memory for the KV caches of idle slots (offloaded at a request's end from one pool, copied out
    # of a slot's stream when another prompt cuts it); least recently used go first.
    prompt_cache_bytes: int = 1 << 30
    # A single step running longer than this marks the engine stalled (/ready answers 503).
    stall_seconds: float = 60.0
    max_buffered_requests: int = 30
    buffered_request_timeout: float = 10.0
    sampling: SamplingParams = field(default_factory=SamplingParams)
    name: str | None = None
    # Failpoints for tests of the engine's recovery; none in normal service.
    injected_faults: tuple[InjectedFault, ...] = ()

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.slots <= MAX_SLOTS, f"slots must be 1..{MAX_SLOTS}"),
            (self.context_size >= 16, "context_size must be at least 16"),
            (1 <= self.n_batch <= 1 << 20, "n_batch must be 1..1048576"),
            (1 <= self.n_ubatch <= self.n_batch, "n_ubatch must be 1..n_batch"),
            (self.prefill_budget >= 0, "prefill_budget must not be negative"),
            (self.slots <= self.n_batch, "slots must not exceed n_batch (every slot needs a token per step)"),
            (1 <= self.threads <= 512, "threads must be 1..512"),
            (self.image_resize_to_fit > 0, "image_resize_to_fit must be greater than zero"),
            (self.k_cache_type in KV_CACHE_TYPES, f"k_cache_type must be one of {KV_CACHE_TYPES}"),
            (self.v_cache_type in KV_CACHE_TYPES, f"v_cache_type must be one of {KV_CACHE_TYPES}"),
            (self.flash_attention in ("auto", "on", "off"), "flash_attention must be auto, on or off"),
            (self.pooling_type in POOLING_TYPES, f"pooling_type must be one of {POOLING_TYPES}"),
            (1 <= self.embedding_batch_sequences <= MAX_SLOTS, f"embedding_batch_sequences must be 1..{MAX_SLOTS}"),
            (self.enable_generation or self.enable_embeddings, "enable generation, embeddings or both"),
            (self.max_buffered_requests >= 0, "max_buffered_requests must not be negative"),
            (self.stall_seconds > 0, "stall_seconds must be positive"),
            (self.prompt_cache_bytes >= 0, "prompt_cache_bytes must not be negative"),
            (self.buffered_request_timeout >= 0, "buffered_request_timeout must not be negative"),
        ]
        for holds, message in checks:
            if not holds:
                raise ValueError(message)
        if self.kv_layout is not KvLayout.UNIFIED and self.context_size // self.slots < 16:
            raise ValueError("context_size / slots must be at least 16 without a unified KV cache")
