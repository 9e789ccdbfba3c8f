"""GET /api/v1/metrics/history: the last minutes of the engine's metrics, one sample a second, for the
admin panel's charts (ours; Paddler has none)."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, jsonify

from paddler.web.shared.metrics_history import EXTENSION_KEY, ChartCounters, HistoryReading, MetricsHistory
from paddler.web.shared.paddler_services import PaddlerServices

blueprint = Blueprint("metrics_history", __name__)


def _engine_reading(services: PaddlerServices) -> HistoryReading:
    engine = services.engine
    stats = engine.stats()
    return HistoryReading(
        time.time(),
        {id(engine): ChartCounters.of(stats)},
        slots_busy=stats.slots_processing,
        slots_total=stats.slots_total,
        queue_length=stats.buffered_requests,
    )


def keep_metrics_history(app: Flask, services: PaddlerServices) -> None:
    """Give this app's history route its history; sampling starts with the server (start_metrics_history),
    not when an app is built."""
    app.extensions[EXTENSION_KEY] = MetricsHistory(lambda: _engine_reading(services), services.shutting_down)


@blueprint.get("/api/v1/metrics/history")
def get_metrics_history() -> Response:
    history: MetricsHistory = current_app.extensions[EXTENSION_KEY]
    return jsonify(history.body())
