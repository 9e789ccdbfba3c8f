"""Counters the engine thread keeps, and the snapshot other threads read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EngineCounters:
    """Written only by the engine thread; other threads read a snapshot."""

    slots_processing: int = 0
    buffered_requests: int = 0
    requests_completed: int = 0
    requests_failed: int = 0
    requests_rejected: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    generated_tokens: int = 0
    embedded_documents: int = 0
    steps: int = 0
    step_seconds: float = 0.0
    decode_seconds: float = 0.0
    kv_evictions: int = 0


@dataclass(frozen=True, slots=True)
class EngineStats:
    state: str
    slots_total: int
    slots_processing: int
    buffered_requests: int
    requests_completed: int
    requests_failed: int
    requests_rejected: int
    prompt_tokens: int
    cached_prompt_tokens: int
    generated_tokens: int
    embedded_documents: int
    steps: int
    step_seconds: float
    decode_seconds: float
    kv_evictions: int

    @property
    def overhead_share(self) -> float:
        """Share of step time spent outside llama_decode (scheduling, sampling, streaming)."""
        if self.step_seconds <= 0:
            return 0.0
        return max(0.0, 1.0 - self.decode_seconds / self.step_seconds)
