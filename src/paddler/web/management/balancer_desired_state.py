"""GET/PUT /api/v1/balancer_desired_state and GET /api/v1/balancer_applicable_state."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.web.management.state_application import accept_state, current_desired_state
from paddler.web.shared.api_error import parse_json_body
from paddler.web.shared.desired_state import BalancerDesiredState, applicable_state
from paddler.web.shared.paddler_services import current_services

blueprint = Blueprint("balancer_desired_state", __name__)


@blueprint.get("/api/v1/balancer_desired_state")
def get_balancer_desired_state() -> Response:
    return jsonify(current_desired_state(current_services()).model_dump(mode="json"))


@blueprint.put("/api/v1/balancer_desired_state")
def put_balancer_desired_state() -> Response:
    """204 once the state is checked and saved; it is applied in the background, the last PUT winning
    (see the agent's state_application_status and issues)."""
    state = parse_json_body(BalancerDesiredState)
    accept_state(current_services(), state)
    return Response(status=204)


@blueprint.get("/api/v1/balancer_applicable_state")
def get_balancer_applicable_state() -> Response:
    return jsonify(applicable_state(current_desired_state(current_services())))
