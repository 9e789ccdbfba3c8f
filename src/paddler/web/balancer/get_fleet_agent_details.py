"""GET /api/v1/agent/<id>/model_metadata and /chat_template_override for any agent of the fleet: asked of
the agent's own management API and passed on as it answered."""

from __future__ import annotations

from flask import Blueprint, Response, request

from paddler.web.balancer.agent_calls import ask_agent
from paddler.web.balancer.fleet_services import current_fleet
from paddler.web.shared.api_error import ApiError

blueprint = Blueprint("fleet_agent_details", __name__)
ASK_SECONDS = 5.0


@blueprint.get("/api/v1/agent/<agent_id>/model_metadata")
@blueprint.get("/api/v1/agent/<agent_id>/chat_template_override")
def get_fleet_agent_detail(agent_id: str) -> Response:
    services = current_fleet()
    agent = services.fleet.get(agent_id)
    if agent is None:
        raise ApiError(404, f"Agent {agent_id} not found")
    answer = ask_agent(services, agent, request.path, ASK_SECONDS)
    if answer is None:
        raise ApiError(502, f"Agent {agent_id} does not answer")
    return Response(answer.content, status=answer.status_code, content_type=answer.headers.get("content-type"))
