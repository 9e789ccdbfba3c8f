"""GET /api/v1/buffered_requests and its event stream."""

from __future__ import annotations

from flask import Blueprint

from paddler.web.management.get_agents import serving
from paddler.web.shared.paddler_services import PaddlerServices, current_services
from paddler.web.shared.server_sent_events import add_snapshot_routes

blueprint = Blueprint("buffered_requests", __name__)


def _buffered(services: PaddlerServices) -> dict[str, int]:
    return {"buffered_requests_current": services.engine.stats().buffered_requests}


add_snapshot_routes(blueprint, "/api/v1/buffered_requests", current_services, _buffered, serving)
