"""The balancer's chart history from its agents' counters: an agent's /metrics reads back as the counters
it was written from, and the fleet's rates and quantiles add the agents up, leaving out an agent whose
counters started again (a restart or a model swap) rather than counting a negative difference."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from paddler.engine.engine_stats import TTFT_BOUNDS, Histogram
from paddler.web.balancer.get_fleet_metrics_history import agent_counters
from paddler.web.shared.metrics_history import ChartCounters, HistoryReading, MetricsHistory


def _ttft(*observations: float) -> Histogram:
    histogram = Histogram(TTFT_BOUNDS)
    for seconds in observations:
        histogram.observe(seconds)
    return histogram


def _metrics_text(counters: ChartCounters) -> str:
    lines = [
        f"paddler_prompt_tokens_total {counters.prompt_tokens}.0",
        f"paddler_cached_prompt_tokens_total {counters.cached_prompt_tokens}.0",
        f"paddler_generated_tokens_total {counters.generated_tokens}.0",
        "# TYPE paddler_time_to_first_token_seconds histogram",
    ]
    running = 0
    for bound, count in zip((*map(str, TTFT_BOUNDS), "+Inf"), counters.time_to_first_token.counts, strict=True):
        running += count
        lines.append(f'paddler_time_to_first_token_seconds_bucket{{le="{bound}"}} {running}.0')
    lines.append(f"paddler_time_to_first_token_seconds_count {running}.0")
    return "\n".join(lines) + "\n"


def test_an_agents_metrics_read_back_as_its_counters() -> None:
    counters = ChartCounters(120, 30, 400, _ttft(0.04, 0.3, 40.0))
    read = agent_counters(_metrics_text(counters))
    assert read is not None
    assert (read.prompt_tokens, read.cached_prompt_tokens, read.generated_tokens) == (120, 30, 400)
    assert read.time_to_first_token.counts == counters.time_to_first_token.counts
    assert agent_counters("paddler_slots_total 2.0\n") is None


def _reading(time: float, counters: dict[Hashable, ChartCounters]) -> HistoryReading:
    return HistoryReading(time, counters, slots_busy=len(counters), slots_total=4, queue_length=0)


def test_the_fleets_rates_add_up_its_agents_and_skip_one_that_started_again() -> None:
    readings = iter(
        [
            _reading(0.0, {"a": ChartCounters(10, 0, 100, _ttft()), "b": ChartCounters(10, 0, 500, _ttft())}),
            _reading(
                1.0,
                {
                    "a": ChartCounters(30, 10, 150, _ttft(0.04)),
                    # b restarted: its counters are smaller than a second ago.
                    "b": ChartCounters(0, 0, 20, _ttft(0.3)),
                },
            ),
        ]
    )
    history = MetricsHistory(lambda: next(readings), threading.Event())
    history.record()
    history.record()
    first, second = history.samples()
    assert first["tokens_per_second"] is None
    assert second["tokens_per_second"] == 50.0  # a's 50 tokens; b's restart is no -480
    assert second["cache_hit_rate"] == 0.5  # 10 of a's 20 new prompt tokens were cached
    assert second["ttft_p50"] is not None
    assert second["ttft_p50"] <= 0.05
