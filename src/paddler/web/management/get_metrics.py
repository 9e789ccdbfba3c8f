"""GET /metrics: Paddler's three gauges plus the engine's own counters, in Prometheus' text format."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from paddler.engine.engine_stats import Histogram
from paddler.web.shared.paddler_services import PaddlerServices, current_services

blueprint = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _histogram(name: str, documentation: str, histogram: Histogram) -> HistogramMetricFamily:
    cumulative = list(accumulate(histogram.counts))
    buckets = [(str(bound), float(count)) for bound, count in zip(histogram.bounds, cumulative, strict=False)]
    buckets.append(("+Inf", float(cumulative[-1])))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=histogram.total)


class EngineCollector(Collector):
    """Reads the engine's counters at scrape time, so nothing is updated on the hot path."""

    def __init__(self, services: PaddlerServices) -> None:
        self._services = services

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        stats = self._services.engine.stats()
        yield GaugeMetricFamily("paddler_slots_processing", "Number of processing slots", stats.slots_processing)
        yield GaugeMetricFamily("paddler_slots_total", "Number of total slots", stats.slots_total)
        yield GaugeMetricFamily("paddler_requests_buffered", "Number of buffered requests", stats.buffered_requests)
        counters = [
            ("paddler_prompt_tokens", "Prompt tokens received", stats.prompt_tokens),
            ("paddler_cached_prompt_tokens", "Prompt tokens served from the prefix cache", stats.cached_prompt_tokens),
            (
                "paddler_shared_prompt_tokens",
                "Prompt tokens taken from another slot's cache (prefix sharing)",
                stats.shared_prompt_tokens,
            ),
            ("paddler_generated_tokens", "Tokens generated", stats.generated_tokens),
            ("paddler_embedded_documents", "Documents embedded", stats.embedded_documents),
            ("paddler_requests_completed", "Requests that ended normally", stats.requests_completed),
            ("paddler_requests_failed", "Requests that ended with an error", stats.requests_failed),
            ("paddler_requests_rejected", "Requests refused by admission control", stats.requests_rejected),
            ("paddler_requests_cancelled", "Requests whose client left or stopped them", stats.requests_cancelled),
            ("paddler_engine_restarts", "Times the engine rebuilt itself after a fault", stats.engine_restarts),
            ("paddler_kv_evictions", "Requests evicted under KV cache pressure", stats.kv_evictions),
            (
                "paddler_kv_layout_switches",
                "Moves between a KV stream per slot and one pool (--kv-layout adaptive)",
                stats.kv_layout_switches,
            ),
            ("paddler_prefix_cache_hits", "Requests that reused cached prompt tokens", stats.prefix_cache_hits),
            ("paddler_engine_steps", "Engine steps (one decode each)", stats.steps),
            ("paddler_engine_step_seconds", "Time spent in engine steps", stats.step_seconds),
            ("paddler_engine_decode_seconds", "Time spent in llama_decode", stats.decode_seconds),
        ]
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value=value)
        for name, documentation, histogram in (
            ("paddler_time_to_first_token_seconds", "Submission to first generated token", stats.time_to_first_token),
            ("paddler_engine_step_duration_seconds", "Duration of one engine step", stats.step_duration),
        ):
            yield _histogram(name, documentation, histogram)


def metrics_registry(services: PaddlerServices) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(services))
    return registry


@blueprint.get("/metrics")
def get_metrics() -> Response:
    return Response(generate_latest(metrics_registry(current_services())), content_type=CONTENT_TYPE)
