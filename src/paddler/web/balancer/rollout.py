"""A desired state applied to every agent, one at a time: the agent is drained in HAProxy (its running
requests finish, new ones go to the others), given the state on its own management API, and put back
once it reports the state applied and is ready, so the fleet never loses more than one agent's slots.
An agent already holding the state is left serving, so an agent that joins later is caught up alone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from paddler.web.balancer.agent_calls import agent_headers
from paddler.web.balancer.fleet import FleetAgent
from paddler.web.balancer.fleet_services import FleetServices
from paddler.web.shared.desired_state import BalancerDesiredState

logger = logging.getLogger(__name__)
# Time an agent may take to apply a state (a model download or load included).
APPLY_SECONDS = 600.0
# Time HAProxy may take to see the agent ready again (its checks run every 0.5 s).
BACK_IN_SECONDS = 10.0
FINISHED = frozenset({"Applied", "Stuck"})


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


class Rollout:
    """One desired state's rollout, run by the balancer's StateApplier (a newer PUT replaces it)."""

    def __init__(self, services: FleetServices, state: dict[str, Any]) -> None:
        self._services = services
        self._state = state
        self._headers = agent_headers(services)

    def __call__(self) -> float | None:
        """Each agent that does not hold the state in turn, those joining meanwhile included."""
        tried: set[str] = set()
        while not self._services.stopped.is_set():
            agent = next(
                (
                    agent
                    for agent in self._services.fleet.agents()
                    if agent.id not in tried and agent.given_state != self._state
                ),
                None,
            )
            if agent is None:
                return None
            tried.add(agent.id)
            if self._holds_state(agent) or self._apply_to(agent):
                agent.given_state = self._state
        return None

    def _holds_state(self, agent: FleetAgent) -> bool:
        """Whether the agent serves this state already (it restarted from its own state file, or this
        balancer restarted): it need not be drained."""
        try:
            response = httpx.get(
                f"http://{agent.report.management_addr}/api/v1/balancer_desired_state",
                headers=self._headers,
                timeout=5,
            )
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        held = BalancerDesiredState.model_validate(response.json()).model_dump(mode="json", exclude_none=True)
        return held == self._state

    def _applied(self, agent: FleetAgent) -> bool:
        report = agent.report
        try:
            agents = httpx.get(f"http://{report.management_addr}/api/v1/agents", headers=self._headers, timeout=5)
            ready = httpx.get(f"http://{report.inference_addr}/ready", timeout=5)
        except httpx.HTTPError:
            return False
        listed = agents.json()["agents"] if agents.status_code == 200 else []
        return bool(listed) and listed[0]["state_application_status"] in FINISHED and ready.status_code == 200

    def _back_in_rotation(self, agent: FleetAgent) -> bool:
        servers = self._services.runtime.stats().servers
        return agent.server in servers and servers[agent.server].status == "UP"

    def _apply_to(self, agent: FleetAgent) -> bool:
        """Drain, apply, put back; whether the agent applied the state."""
        fleet = self._services.fleet
        applied = False
        fleet.hold(agent.id, True)
        try:
            response = httpx.put(
                f"http://{agent.report.management_addr}/api/v1/balancer_desired_state",
                json=self._state,
                headers=self._headers,
                timeout=30,
            )
            if response.status_code != 204:
                logger.error("agent %s refused the desired state: %s %s", agent.id, response.status_code, response.text)
                return False
            applied = _wait(lambda: self._applied(agent), APPLY_SECONDS)
            if not applied:
                logger.error("agent %s did not apply the desired state in %.0f s", agent.id, APPLY_SECONDS)
        except httpx.HTTPError as error:
            logger.error("agent %s: cannot apply the desired state: %s", agent.id, error)
        finally:
            fleet.hold(agent.id, False)
        _wait(lambda: self._back_in_rotation(agent), BACK_IN_SECONDS)
        return applied


def catch_up(services: FleetServices) -> None:
    """Roll the balancer's desired state out to the agents that do not hold it yet (one that just joined);
    nothing when no state was PUT here."""
    state = services.fleet.desired_state
    if state is not None:
        services.rollout.submit(Rollout(services, state.model_dump(mode="json", exclude_none=True)))
