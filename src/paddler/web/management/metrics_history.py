"""The last minutes of the engine's counters, sampled once a second, turned into the series the admin
panel charts: tokens/s, TTFT p50/p95, slots busy, queue length and prefix-cache hit rate.

Counters only ever grow within one engine; a desired state that swaps the engine starts them again, so
rates are computed only between samples of the same engine."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from paddler.engine.engine_stats import EngineStats, Histogram
from paddler.web.shared.paddler_services import PaddlerServices

SAMPLE_SECONDS = 1.0
KEPT_SAMPLES = 300
# TTFT quantiles and the cache hit rate are read over this many seconds, so one quiet second is no gap.
WINDOW_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class _Reading:
    time: float
    engine_id: int
    stats: EngineStats


def histogram_quantile(bounds: tuple[float, ...], counts: list[int], quantile: float) -> float | None:
    """The quantile of observations counted per bucket (the last bucket is +Inf), interpolated linearly
    within its bucket as Prometheus does; None without observations."""
    total = sum(counts)
    if total == 0:
        return None
    rank = quantile * total
    seen = 0
    for bucket_index, count in enumerate(counts):
        if count and seen + count >= rank:
            if bucket_index == len(bounds):
                return bounds[-1]
            lower = bounds[bucket_index - 1] if bucket_index else 0.0
            return lower + (bounds[bucket_index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]


def _histogram_delta(newer: Histogram, older: Histogram) -> list[int]:
    return [new - old for new, old in zip(newer.counts, older.counts, strict=True)]


def _chart_sample(reading: _Reading, previous: _Reading | None, window_start: _Reading | None) -> dict[str, Any]:
    stats = reading.stats
    sample: dict[str, Any] = {
        "time": round(reading.time, 3),
        "slots_busy": stats.slots_processing,
        "slots_total": stats.slots_total,
        "queue_length": stats.buffered_requests,
        "tokens_per_second": None,
        "ttft_p50": None,
        "ttft_p95": None,
        "cache_hit_rate": None,
    }
    if previous is not None and reading.time > previous.time:
        generated = stats.generated_tokens - previous.stats.generated_tokens
        sample["tokens_per_second"] = round(generated / (reading.time - previous.time), 2)
    if window_start is not None:
        ttft = _histogram_delta(stats.time_to_first_token, window_start.stats.time_to_first_token)
        bounds = stats.time_to_first_token.bounds
        sample["ttft_p50"] = histogram_quantile(bounds, ttft, 0.5)
        sample["ttft_p95"] = histogram_quantile(bounds, ttft, 0.95)
        prompt = stats.prompt_tokens - window_start.stats.prompt_tokens
        if prompt > 0:
            sample["cache_hit_rate"] = round(
                (stats.cached_prompt_tokens - window_start.stats.cached_prompt_tokens) / prompt, 4
            )
    return sample


class MetricsHistory:
    """Samples the serving engine's counters on a thread of its own until the services shut down."""

    def __init__(self, services: PaddlerServices) -> None:
        self._services = services
        self._readings: deque[_Reading] = deque(maxlen=KEPT_SAMPLES + WINDOW_SAMPLES)
        self._lock = threading.Lock()

    def start(self) -> None:
        self.record()
        threading.Thread(target=self._run, name="paddler-metrics-history", daemon=True).start()

    def _run(self) -> None:
        while not self._services.shutting_down.wait(SAMPLE_SECONDS):
            self.record()

    def record(self) -> None:
        engine = self._services.engine
        reading = _Reading(time.time(), id(engine), engine.stats())
        with self._lock:
            self._readings.append(reading)

    def samples(self) -> list[dict[str, Any]]:
        with self._lock:
            readings = list(self._readings)
        samples = []
        for reading_index in range(max(0, len(readings) - KEPT_SAMPLES), len(readings)):
            reading = readings[reading_index]
            same_engine = [
                earlier
                for earlier in readings[max(0, reading_index - WINDOW_SAMPLES) : reading_index]
                if earlier.engine_id == reading.engine_id
            ]
            previous = same_engine[-1] if same_engine else None
            samples.append(_chart_sample(reading, previous, same_engine[0] if same_engine else None))
        return samples
