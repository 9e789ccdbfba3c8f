"""GET/PUT /api/v1/balancer_desired_state and GET /api/v1/balancer_applicable_state for the fleet: a PUT
is checked, kept, and rolled out to every agent one at a time (see rollout.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from paddler.web.balancer.agent_calls import ask_agent
from paddler.web.balancer.fleet_services import FleetServices, current_fleet
from paddler.web.balancer.rollout import catch_up
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
    """204 once checked and kept (in the state file too, when there is one); every agent then applies it
    in turn (each checks what only it can, such as a local model path, and reports issues in its
    snapshot), and so does every agent that joins later."""
    state = parse_json_body(BalancerDesiredState)
    problem = desired_state_problem(state)
    if problem is not None:
        raise ApiError(400, problem)
    services = current_fleet()
    try:
        services.keep_state(state)
    except OSError as error:
        raise ApiError(500, f"cannot store the desired state: {error.strerror or error}") from None
    services.fleet.desired_state = state
    catch_up(services)
    return Response(status=204)


@blueprint.get("/api/v1/balancer_applicable_state")
def get_fleet_applicable_state() -> Response:
    state = current_fleet().fleet.desired_state
    return jsonify(None if state is None else applicable_state(state))
