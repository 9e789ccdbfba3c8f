"""GET /health (liveness) and GET /ready (for load balancers).

/health answers 503 only while the engine cannot serve by itself: recovering from a fault, or failed for
good (a process supervisor should then restart the server). /ready is also 503 while the model loads,
while draining, and while a step has stalled: route no traffic there.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.engine.engine_state import EngineState
from paddler.web.shared.paddler_services import current_services

blueprint = Blueprint("health", __name__)
DOWN_STATES = (EngineState.RECOVERING, EngineState.FAILED)


@blueprint.get("/health")
def get_health() -> Response:
    engine = current_services().engine
    if engine.state in DOWN_STATES:
        return Response(f"engine {engine.state.value}", status=503, content_type="text/plain; charset=utf-8")
    return Response("OK", content_type="text/plain; charset=utf-8")


@blueprint.get("/ready")
def get_ready() -> tuple[Response, int]:
    """200 while the engine serves; 503 while loading, recovering, draining, stopped, failed or stalled."""
    engine = current_services().engine
    state = "stalled" if engine.stalled else engine.state.value
    ready = state == EngineState.READY.value
    return jsonify({"ready": ready, "state": state}), 200 if ready else 503
