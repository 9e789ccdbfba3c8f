"""GET/PUT /api/v1/balancer_desired_state and GET /api/v1/balancer_applicable_state for the fleet: a PUT
is checked, kept, and rolled out to every agent one at a time (see rollout.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from paddler.web.balancer.agent_calls import ask_agent
from paddler.web.balancer.fleet_services import FleetServices, current_fleet
from paddler.web.balancer.rollout import Rollout
from paddler.web.shared.api_error import ApiError, parse_json_body
from paddler.web.shared.desired_state import BalancerDesiredState, applicable_state, desired_state_problem

blueprint = Blueprint("fleet_desired_state", __name__)


def _fleet_state(services: FleetServices) -> dict[str, Any]:
    """The state PUT here, else the first agent's own (what it serves from its command line)."""
    if services.fleet.desired_state is not None:
        return services.fleet.desired_state.model_dump(mode="json")
    for agent in services.fleet.agents():
        response = ask_agent(services, agent, "/api/v1/balancer_desired_state", timeout=3)
        if response is not None and response.status_code == 200:
            state: dict[str, Any] = response.json()
            return state
    raise ApiError(503, "no desired state was set and no agent has joined yet")


@blueprint.get("/api/v1/balancer_desired_state")
def get_fleet_desired_state() -> Response:
    return jsonify(_fleet_state(current_fleet()))


@blueprint.put("/api/v1/balancer_desired_state")
def put_fleet_desired_state() -> Response:
    """204 once checked and kept; every agent then applies it in turn (each checks what only it can,
    such as a local model path, and reports issues in its snapshot)."""
    state = parse_json_body(BalancerDesiredState)
    problem = desired_state_problem(state)
    if problem is not None:
        raise ApiError(400, problem)
    services = current_fleet()
    services.fleet.desired_state = state
    services.rollout.submit(Rollout(services, state.model_dump(mode="json", exclude_none=True)))
    return Response(status=204)


@blueprint.get("/api/v1/balancer_applicable_state")
def get_fleet_applicable_state() -> Response:
    state = current_fleet().fleet.desired_state
    return jsonify(None if state is None else applicable_state(state))
