"""GET /api/v1/agents and /api/v1/buffered_requests (and their event streams) for the whole fleet: every
agent as it last reported, and the requests waiting in HAProxy's queue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from paddler.web.balancer.fleet_services import FleetServices, current_fleet
from paddler.web.balancer.haproxy_runtime import HaproxyRuntimeError
from paddler.web.shared.server_sent_events import add_snapshot_routes

blueprint = Blueprint("fleet", __name__)


def fleet_agents(services: FleetServices) -> dict[str, Any]:
    return {"agents": [agent.snapshot() for agent in services.fleet.agents()]}


def buffered_requests(services: FleetServices) -> int:
    """Requests waiting in HAProxy's queue for a slot (0 while HAProxy cannot be asked)."""
    try:
        return services.runtime.stats().queued
    except HaproxyRuntimeError:
        return 0


def _fleet_buffered(services: FleetServices) -> dict[str, int]:
    return {"buffered_requests_current": buffered_requests(services)}


def _serving(services: FleetServices) -> bool:
    return not services.stopped.is_set()


add_snapshot_routes(blueprint, "/api/v1/agents", current_fleet, fleet_agents, _serving)
add_snapshot_routes(blueprint, "/api/v1/buffered_requests", current_fleet, _fleet_buffered, _serving)


@blueprint.get("/health")
def get_balancer_health() -> Response:
    return Response("OK", content_type="text/plain; charset=utf-8")
