"""Two balancers against the same agents (each agent given both with --balancer-addr twice): both list
the same fleet and serve it through their own HAProxy, a state PUT at one is what the other reports, and
with one balancer stopped the other still serves the whole fleet."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.web.conftest import wait_for

from .conftest import AGENT_NAMES, RunningFleet, answered_at_once, balancer_fleet, running_fleet, stop_balancer


def _ids(fleet: RunningFleet) -> dict[str, str]:
    return {agent["name"]: agent["id"] for agent in fleet.listed()}


def test_two_balancers_list_the_same_agents_and_each_serves_them_through_its_own_haproxy(
    default_model_path: Path,
) -> None:
    with running_fleet(default_model_path, agent_names=()) as first:
        second = balancer_fleet(default_model_path)
        try:
            for name in AGENT_NAMES:
                first.start_agent(name, also_to=(second.management_addr,))
            assert wait_for(lambda: second.names() == set(AGENT_NAMES), timeout=10)
            assert _ids(first) == _ids(second)
            assert len(set(_ids(first).values())) == 2

            assert answered_at_once(first.inference_url) == set(AGENT_NAMES)
            assert answered_at_once(second.inference_url) == set(AGENT_NAMES)

            # The rule for desired states: PUT at one balancer; the other, with none of its own, answers
            # with the agents' state and pushes nothing.
            state = httpx.get(f"{first.management_url}/api/v1/balancer_desired_state").json()
            state["inference_parameters"]["context_size"] = 3072
            assert httpx.put(f"{first.management_url}/api/v1/balancer_desired_state", json=state).status_code == 204

            def applied_everywhere() -> bool:
                states = [agent.desired_state() for agent in first.agents.values()]
                listed = first.listed() + second.listed()
                return all(s["inference_parameters"]["context_size"] == 3072 for s in states) and all(
                    agent["state_application_status"] == "Applied" for agent in listed
                )

            assert wait_for(applied_everywhere, timeout=60)
            seen = httpx.get(f"{second.management_url}/api/v1/balancer_desired_state").json()
            assert seen["inference_parameters"]["context_size"] == 3072
            assert httpx.get(f"{second.management_url}/api/v1/balancer_applicable_state").json() is None

            # The first balancer goes away (its host failed over): the second serves the whole fleet.
            stop_balancer(first)
            assert wait_for(lambda: answered_at_once(second.inference_url) == set(AGENT_NAMES), timeout=20)
            assert second.names() == set(AGENT_NAMES)
        finally:
            stop_balancer(second)
