"""The agents' side of the control protocol: a report adds or updates an agent, a DELETE removes it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.web.balancer.agent_report import AGENT_PATH, AgentReport
from paddler.web.balancer.fleet_services import current_fleet
from paddler.web.shared.api_error import parse_json_body

blueprint = Blueprint("agent_registration", __name__)


@blueprint.put(AGENT_PATH + "<agent_id>")
def put_agent_report(agent_id: str) -> Response:
    current_fleet().fleet.report(agent_id, parse_json_body(AgentReport))
    return jsonify({"registered": True})


@blueprint.delete(AGENT_PATH + "<agent_id>")
def delete_agent(agent_id: str) -> Response:
    current_fleet().fleet.leave(agent_id)
    return Response(status=204)
