"""Histogram and the overhead share of the engine's statistics."""

from __future__ import annotations

from dataclasses import replace

from paddler.engine.engine_stats import EngineStats, Histogram


def test_histogram_buckets_and_sum() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value)
    assert histogram.counts == [2, 1, 1]
    assert histogram.total == 3.65
    copy = histogram.snapshot()
    histogram.observe(0.01)
    assert copy.counts == [2, 1, 1]


def test_overhead_share() -> None:
    stats = EngineStats(
        state="ready",
        slots_total=1,
        slots_processing=0,
        buffered_requests=0,
        requests_completed=0,
        requests_failed=0,
        requests_rejected=0,
        requests_cancelled=0,
        engine_restarts=0,
        prompt_tokens=0,
        cached_prompt_tokens=0,
        shared_prompt_tokens=0,
        generated_tokens=0,
        embedded_documents=0,
        steps=10,
        step_seconds=2.0,
        decode_seconds=1.5,
        kv_evictions=0,
        kv_layout_switches=0,
        prefix_cache_hits=0,
        time_to_first_token=Histogram((1.0,)),
        step_duration=Histogram((1.0,)),
    )
    assert stats.overhead_share == 0.25
    assert replace(stats, step_seconds=0.0).overhead_share == 0.0
