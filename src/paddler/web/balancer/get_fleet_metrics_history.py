"""GET /api/v1/metrics/history for the fleet: the admin panel's charts of the fleet's totals, sampled
once a second from every agent's /metrics (token and TTFT counters, summed per engine so quantiles are
the fleet's own), the agents' reported slots and HAProxy's queue."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable

from flask import Blueprint, Flask, Response, current_app, jsonify
from prometheus_client.parser import text_string_to_metric_families

from paddler.engine.engine_stats import TTFT_BOUNDS, Histogram
from paddler.web.balancer.agent_calls import ask_every_agent
from paddler.web.balancer.fleet_services import FleetServices
from paddler.web.balancer.get_fleet import buffered_requests
from paddler.web.shared.metrics_history import EXTENSION_KEY, ChartCounters, HistoryReading, MetricsHistory

blueprint = Blueprint("fleet_metrics_history", __name__)
ASK_SECONDS = 0.8
_TTFT_BUCKET = "paddler_time_to_first_token_seconds_bucket"


def agent_counters(metrics_text: str) -> ChartCounters | None:
    """The chart counters in an agent's /metrics; None when they are missing or bucketed otherwise."""
    values: dict[str, float] = {}
    cumulative: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == _TTFT_BUCKET:
                cumulative[float(sample.labels["le"])] = sample.value
            else:
                values[sample.name] = sample.value
    bounds = tuple(bound for bound in sorted(cumulative) if not math.isinf(bound))
    names = ("paddler_prompt_tokens_total", "paddler_cached_prompt_tokens_total", "paddler_generated_tokens_total")
    if bounds != TTFT_BOUNDS or math.inf not in cumulative or not all(name in values for name in names):
        return None
    running = [cumulative[bound] for bound in (*bounds, math.inf)]
    counts = [int(total - below) for total, below in zip(running, [0.0, *running[:-1]], strict=True)]
    prompt, cached, generated = (int(values[name]) for name in names)
    return ChartCounters(prompt, cached, generated, Histogram(TTFT_BOUNDS, counts))


def _fleet_reading(services: FleetServices) -> HistoryReading:
    agents = services.fleet.agents()
    counters: dict[Hashable, ChartCounters] = {}
    for agent, answer in ask_every_agent(services, "/metrics", ASK_SECONDS):
        read = agent_counters(answer.text)
        if read is not None:
            counters[agent.id] = read
    return HistoryReading(
        time.time(),
        counters,
        slots_busy=sum(int(agent.report.snapshot.get("slots_processing") or 0) for agent in agents),
        slots_total=sum(agent.slots_total for agent in agents),
        queue_length=buffered_requests(services),
    )


def keep_fleet_metrics_history(app: Flask, services: FleetServices) -> None:
    app.extensions[EXTENSION_KEY] = MetricsHistory(lambda: _fleet_reading(services), services.stopped)


@blueprint.get("/api/v1/metrics/history")
def get_fleet_metrics_history() -> Response:
    history: MetricsHistory = current_app.extensions[EXTENSION_KEY]
    return jsonify(history.body())
