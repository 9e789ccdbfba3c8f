"""GET /api/v1/slots and its event stream for the fleet: what each slot of every agent is doing, gathered
from the agents' own management APIs; each slot names its agent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from paddler.web.balancer.agent_calls import ask_every_agent
from paddler.web.balancer.fleet_services import FleetServices, current_fleet
from paddler.web.shared.server_sent_events import sse_response

blueprint = Blueprint("fleet_slots", __name__)
EXTENSION_KEY = "paddler_fleet_slots"
ASK_SECONDS = 1.0
# Every open stream polls several times a second: they share one gathering this young.
FRESH_SECONDS = 0.2


class RecentSlots:
    """The fleet's slots, gathered again only once the last gathering is older than FRESH_SECONDS."""

    def __init__(self, gather: Callable[[], dict[str, Any]]) -> None:
        self._gather = gather
        self._lock = threading.Lock()
        self._value: dict[str, Any] = {}
        self._taken = float("-inf")

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            if time.monotonic() - self._taken > FRESH_SECONDS:
                self._value, self._taken = self._gather(), time.monotonic()
            return self._value


def _gather_slots(services: FleetServices) -> dict[str, Any]:
    slots: list[dict[str, Any]] = []
    embedding_batches = 0
    for agent, answer in ask_every_agent(services, "/api/v1/slots", ASK_SECONDS):
        body = answer.json()
        slots.extend({**slot, "agent_id": agent.id, "agent_name": agent.report.name} for slot in body["slots"])
        embedding_batches += int(body.get("embedding_batches") or 0)
    return {"slots": slots, "embedding_batches": embedding_batches}


def keep_fleet_slots(app: Flask, services: FleetServices) -> None:
    app.extensions[EXTENSION_KEY] = RecentSlots(lambda: _gather_slots(services))


def _recent_slots() -> RecentSlots:
    recent: RecentSlots = current_app.extensions[EXTENSION_KEY]
    return recent


@blueprint.get("/api/v1/slots")
def get_fleet_slots() -> Response:
    return jsonify(_recent_slots()())


@blueprint.get("/api/v1/slots/stream")
def get_fleet_slots_stream() -> Response:
    services, recent = current_fleet(), _recent_slots()
    return sse_response(recent, lambda: not services.stopped.is_set())
