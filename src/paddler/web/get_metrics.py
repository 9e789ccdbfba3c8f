"""GET /metrics: Paddler's three gauges plus the engine's own counters, in Prometheus' text format."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from paddler.web.paddler_services import PaddlerServices, current_services

blueprint = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class EngineCollector(Collector):
    """Reads the engine's counters at scrape time, so nothing is updated on the hot path."""

    def __init__(self, services: PaddlerServices) -> None:
        self._services = services

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._services.engine.stats()
        yield GaugeMetricFamily("paddler_slots_processing", "Number of processing slots", stats.slots_processing)
        yield GaugeMetricFamily("paddler_slots_total", "Number of total slots", stats.slots_total)
        yield GaugeMetricFamily("paddler_requests_buffered", "Number of buffered requests", stats.buffered_requests)
        counters = [
            ("paddler_prompt_tokens", "Prompt tokens received", stats.prompt_tokens),
            ("paddler_cached_prompt_tokens", "Prompt tokens served from the prefix cache", stats.cached_prompt_tokens),
            ("paddler_generated_tokens", "Tokens generated", stats.generated_tokens),
            ("paddler_embedded_documents", "Documents embedded", stats.embedded_documents),
            ("paddler_requests_completed", "Requests that ended normally", stats.requests_completed),
            ("paddler_requests_failed", "Requests that ended with an error", stats.requests_failed),
            ("paddler_requests_rejected", "Requests refused by admission control", stats.requests_rejected),
            ("paddler_kv_evictions", "Requests evicted under KV cache pressure", stats.kv_evictions),
            ("paddler_engine_steps", "Engine steps (one decode each)", stats.steps),
            ("paddler_engine_step_seconds", "Time spent in engine steps", stats.step_seconds),
            ("paddler_engine_decode_seconds", "Time spent in llama_decode", stats.decode_seconds),
        ]
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value=value)


def metrics_registry(services: PaddlerServices) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(services))
    return registry


@blueprint.get("/metrics")
def get_metrics() -> Response:
    return Response(generate_latest(metrics_registry(current_services())), content_type=CONTENT_TYPE)
