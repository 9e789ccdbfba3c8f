"""GET /health (liveness, answered by the HTTP layer alone) and GET /ready (for load balancers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.engine.engine_state import EngineState
from paddler.web.paddler_services import current_services

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def get_health() -> Response:
    return Response("OK", content_type="text/plain; charset=utf-8")


@blueprint.get("/ready")
def get_ready() -> tuple[Response, int]:
    """200 while the engine serves; 503 while loading, draining, stopped, failed or stalled."""
    engine = current_services().engine
    state = "stalled" if engine.stalled else engine.state.value
    ready = state == EngineState.READY.value
    return jsonify({"ready": ready, "state": state}), 200 if ready else 503
