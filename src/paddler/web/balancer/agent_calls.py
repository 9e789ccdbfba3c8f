"""The balancer's calls to the agents' own management APIs, with the key they take."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from paddler.web.balancer.fleet import FleetAgent
from paddler.web.balancer.fleet_services import FleetServices

# Agents asked at once when the balancer gathers from the whole fleet.
GATHER_THREADS = 16
_gathering = ThreadPoolExecutor(max_workers=GATHER_THREADS, thread_name_prefix="paddler-gather")
# One client for every call: a new one per call costs milliseconds of CPU (its TLS context), which a
# fleet of 50 agents asked every second turns into a busy core.
_client = httpx.Client(limits=httpx.Limits(max_connections=GATHER_THREADS))


def agent_headers(services: FleetServices) -> dict[str, str]:
    key = services.agent_management_key
    return {"Authorization": f"Bearer {key}"} if key else {}


def ask_agent(services: FleetServices, agent: FleetAgent, path: str, timeout: float) -> httpx.Response | None:
    """GET `path` on the agent's management API; None when it cannot be reached in time."""
    try:
        return _client.get(
            f"http://{agent.report.management_addr}{path}", headers=agent_headers(services), timeout=timeout
        )
    except httpx.HTTPError:
        return None


def ask_every_agent(services: FleetServices, path: str, timeout: float) -> list[tuple[FleetAgent, httpx.Response]]:
    """GET `path` on every agent at once; the agents that answered 200, in the fleet's order."""
    agents = services.fleet.agents()
    answers = _gathering.map(lambda agent: ask_agent(services, agent, path, timeout), agents)
    return [
        (agent, answer)
        for agent, answer in zip(agents, answers, strict=True)
        if answer is not None and answer.status_code == 200
    ]
