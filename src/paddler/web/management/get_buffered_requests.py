"""GET /api/v1/buffered_requests and its event stream."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.web.management.get_agents import serving
from paddler.web.shared.paddler_services import PaddlerServices, current_services
from paddler.web.shared.server_sent_events import sse_response

blueprint = Blueprint("buffered_requests", __name__)


def _buffered(services: PaddlerServices) -> dict[str, int]:
    return {"buffered_requests_current": services.engine.stats().buffered_requests}


@blueprint.get("/api/v1/buffered_requests")
def get_buffered_requests() -> Response:
    return jsonify(_buffered(current_services()))


@blueprint.get("/api/v1/buffered_requests/stream")
def get_buffered_requests_stream() -> Response:
    services = current_services()
    return sse_response(lambda: _buffered(services), lambda: serving(services))
