"""GET /api/v1/metrics/history: the last minutes of the engine's metrics, one sample a second, for the
admin panel's charts (ours; Paddler has none)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

from paddler.web.management.metrics_history import SAMPLE_SECONDS, MetricsHistory
from paddler.web.shared.paddler_services import PaddlerServices

blueprint = Blueprint("metrics_history", __name__)
EXTENSION_KEY = "paddler_metrics_history"


def keep_metrics_history(app: Flask, services: PaddlerServices) -> None:
    """Give this app's history route its history; sampling starts with the server (start_metrics_history),
    not when an app is built."""
    app.extensions[EXTENSION_KEY] = MetricsHistory(services)


def start_metrics_history(app: Flask) -> None:
    history: MetricsHistory = app.extensions[EXTENSION_KEY]
    history.start()


@blueprint.get("/api/v1/metrics/history")
def get_metrics_history() -> Response:
    history: MetricsHistory = current_app.extensions[EXTENSION_KEY]
    return jsonify({"interval_seconds": SAMPLE_SECONDS, "samples": history.samples()})
