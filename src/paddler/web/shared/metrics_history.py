"""The last minutes of serving counters, sampled once a second, turned into the series the admin panel
charts: tokens/s, TTFT p50/p95, slots busy, queue length and prefix-cache hit rate. A single server
samples its engine; a balancer samples every agent and charts the fleet's totals.

Counters only ever grow within one engine; a desired state that swaps an engine, or an agent that
restarts, starts them again. Each sample therefore reads its counters per engine, keyed by an identity,
and takes differences only between readings of the same engine whose counters did not go back."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from paddler.engine.engine_stats import EngineStats, Histogram

EXTENSION_KEY = "paddler_metrics_history"
SAMPLE_SECONDS = 1.0
KEPT_SAMPLES = 300
# TTFT quantiles and the cache hit rate are read over this many seconds, so one quiet second is no gap.
WINDOW_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class ChartCounters:
    """The counters of one engine the charts are computed from."""

    prompt_tokens: int
    cached_prompt_tokens: int
    generated_tokens: int
    time_to_first_token: Histogram

    @classmethod
    def of(cls, stats: EngineStats) -> ChartCounters:
        return cls(stats.prompt_tokens, stats.cached_prompt_tokens, stats.generated_tokens, stats.time_to_first_token)

    def follows(self, older: ChartCounters) -> bool:
        """Whether these counters grew from `older` (not from an engine that started again)."""
        return (
            self.prompt_tokens >= older.prompt_tokens
            and self.generated_tokens >= older.generated_tokens
            and all(
                new >= old
                for new, old in zip(self.time_to_first_token.counts, older.time_to_first_token.counts, strict=True)
            )
        )


@dataclass(frozen=True, slots=True)
class HistoryReading:
    """One sample's reading: each engine's counters by its identity, and the gauges as they are."""

    time: float
    counters: Mapping[Hashable, ChartCounters]
    slots_busy: int
    slots_total: int
    queue_length: int


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


def _pairs(reading: HistoryReading, earlier: list[HistoryReading]) -> list[tuple[ChartCounters, ChartCounters]]:
    """(now, then) for each engine of `reading`, `then` from the first of `earlier` it grew from."""
    pairs = []
    for identity, counters in reading.counters.items():
        for older in earlier:
            then = older.counters.get(identity)
            if then is not None and counters.follows(then):
                pairs.append((counters, then))
                break
    return pairs


def _chart_sample(
    reading: HistoryReading, previous: HistoryReading | None, window: list[HistoryReading]
) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "time": round(reading.time, 3),
        "slots_busy": reading.slots_busy,
        "slots_total": reading.slots_total,
        "queue_length": reading.queue_length,
        "tokens_per_second": None,
        "ttft_p50": None,
        "ttft_p95": None,
        "cache_hit_rate": None,
    }
    last_second = _pairs(reading, [] if previous is None else [previous])
    if last_second and previous is not None and reading.time > previous.time:
        generated = sum(now.generated_tokens - then.generated_tokens for now, then in last_second)
        sample["tokens_per_second"] = round(generated / (reading.time - previous.time), 2)
    in_window = _pairs(reading, window)
    if in_window:
        bounds = in_window[0][0].time_to_first_token.bounds
        ttft = [0] * (len(bounds) + 1)
        for now, then in in_window:
            for bucket_index, (new, old) in enumerate(
                zip(now.time_to_first_token.counts, then.time_to_first_token.counts, strict=True)
            ):
                ttft[bucket_index] += new - old
        sample["ttft_p50"] = histogram_quantile(bounds, ttft, 0.5)
        sample["ttft_p95"] = histogram_quantile(bounds, ttft, 0.95)
        prompt = sum(now.prompt_tokens - then.prompt_tokens for now, then in in_window)
        if prompt > 0:
            cached = sum(now.cached_prompt_tokens - then.cached_prompt_tokens for now, then in in_window)
            sample["cache_hit_rate"] = round(cached / prompt, 4)
    return sample


class MetricsHistory:
    """Takes a reading every second on a thread of its own until `stopped` is set."""

    def __init__(self, read: Callable[[], HistoryReading], stopped: threading.Event) -> None:
        self._read = read
        self._stopped = stopped
        self._readings: deque[HistoryReading] = deque(maxlen=KEPT_SAMPLES + WINDOW_SAMPLES)
        self._lock = threading.Lock()

    def start(self) -> None:
        self.record()
        threading.Thread(target=self._run, name="paddler-metrics-history", daemon=True).start()

    def _run(self) -> None:
        while not self._stopped.wait(SAMPLE_SECONDS):
            self.record()

    def record(self) -> None:
        reading = self._read()
        with self._lock:
            self._readings.append(reading)

    def samples(self) -> list[dict[str, Any]]:
        with self._lock:
            readings = list(self._readings)
        samples = []
        for reading_index in range(max(0, len(readings) - KEPT_SAMPLES), len(readings)):
            window = readings[max(0, reading_index - WINDOW_SAMPLES) : reading_index]
            previous = window[-1] if window else None
            samples.append(_chart_sample(readings[reading_index], previous, window))
        return samples

    def body(self) -> dict[str, Any]:
        """GET /api/v1/metrics/history's answer."""
        return {"interval_seconds": SAMPLE_SECONDS, "samples": self.samples()}


def start_metrics_history(app: Flask) -> None:
    """Start sampling the history an app's route answers from (once its server starts, not when the app
    is built, so an app built only to list its routes starts no thread)."""
    history: MetricsHistory = app.extensions[EXTENSION_KEY]
    history.start()
