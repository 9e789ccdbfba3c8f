"""GET /api/v1/agents and its event stream: this server as Paddler's single agent."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from paddler.engine.engine_state import EngineState
from paddler.web.management.agent_snapshot import agent_snapshot
from paddler.web.shared.paddler_services import PaddlerServices, current_services
from paddler.web.shared.server_sent_events import add_snapshot_routes

blueprint = Blueprint("agents", __name__)


def _agents(services: PaddlerServices) -> dict[str, Any]:
    return {"agents": [agent_snapshot(services)]}


def serving(services: PaddlerServices) -> bool:
    return services.engine.state not in (EngineState.STOPPED, EngineState.FAILED)


add_snapshot_routes(blueprint, "/api/v1/agents", current_services, _agents, serving)
