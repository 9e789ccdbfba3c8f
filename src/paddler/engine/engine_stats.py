"""Counters the engine thread keeps, and the snapshot other threads read."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, fields
from typing import Any

TTFT_BOUNDS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STEP_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(slots=True)
class Histogram:
    """Counts of observations at or below each bound (the last bucket is +Inf), and their sum."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def snapshot(self) -> Histogram:
        return Histogram(self.bounds, list(self.counts), self.total)


@dataclass(slots=True)
class EngineCounters:
    """Written only by the engine thread; other threads read a snapshot."""

    slots_processing: int = 0
    buffered_requests: int = 0
    requests_completed: int = 0
    requests_failed: int = 0
    requests_rejected: int = 0
    # Requests whose client left (or stopped them) before they ended.
    requests_cancelled: int = 0
    # Times the engine loop faulted and was rebuilt.
    engine_restarts: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    # Of cached_prompt_tokens, those taken from another slot's cache (engine/prefix_sharing.py).
    shared_prompt_tokens: int = 0
    generated_tokens: int = 0
    embedded_documents: int = 0
    steps: int = 0
    step_seconds: float = 0.0
    decode_seconds: float = 0.0
    kv_evictions: int = 0
    # Moves of the generation context between a KV stream per slot and one pool (KvLayout.ADAPTIVE).
    kv_layout_switches: int = 0
    # Requests whose prompt reused at least one cached token.
    prefix_cache_hits: int = 0
    # Seconds from submission (buffer wait included) to the first generated token.
    time_to_first_token: Histogram = field(default_factory=lambda: Histogram(TTFT_BOUNDS))
    step_duration: Histogram = field(default_factory=lambda: Histogram(STEP_BOUNDS))

    def snapshot(self, state: str, slots_total: int) -> EngineStats:
        """A copy other threads may keep; histograms are copied, not shared."""
        values: dict[str, Any] = {counter.name: getattr(self, counter.name) for counter in fields(self)}
        values["time_to_first_token"] = self.time_to_first_token.snapshot()
        values["step_duration"] = self.step_duration.snapshot()
        return EngineStats(state=state, slots_total=slots_total, **values)


@dataclass(frozen=True, slots=True)
class EngineStats:
    state: str
    slots_total: int
    slots_processing: int
    buffered_requests: int
    requests_completed: int
    requests_failed: int
    requests_rejected: int
    requests_cancelled: int
    engine_restarts: int
    prompt_tokens: int
    cached_prompt_tokens: int
    shared_prompt_tokens: int
    generated_tokens: int
    embedded_documents: int
    steps: int
    step_seconds: float
    decode_seconds: float
    kv_evictions: int
    kv_layout_switches: int
    prefix_cache_hits: int
    time_to_first_token: Histogram
    step_duration: Histogram

    @property
    def overhead_share(self) -> float:
        """Share of step time spent outside llama_decode (scheduling, sampling, streaming)."""
        if self.step_seconds <= 0:
            return 0.0
        return max(0.0, 1.0 - self.decode_seconds / self.step_seconds)
