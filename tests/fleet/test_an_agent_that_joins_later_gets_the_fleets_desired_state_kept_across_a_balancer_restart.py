"""A desired state PUT at the balancer reaches an agent that joins afterwards, without taking the agent
already serving out of rotation; with --state-file the balancer keeps it across its own restart."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.web.conftest import RunningServer, wait_for

from .conftest import answered_at_once, generated_by, running_fleet, steady_requests


def _context_size(agent: RunningServer) -> int:
    return int(agent.desired_state()["inference_parameters"]["context_size"])


def _applied(agent: RunningServer, context_size: int) -> bool:
    try:
        ready = httpx.get(f"{agent.inference_url}/ready", timeout=2).status_code == 200
        return ready and _context_size(agent) == context_size and agent.agent()["state_application_status"] == "Applied"
    except httpx.HTTPError:
        return False


def test_an_agent_joining_later_is_brought_to_the_fleets_state_which_survives_a_balancer_restart(
    default_model_path: Path, tmp_path: Path
) -> None:
    state_file = tmp_path / "fleet-state.json"
    options = ("--state-file", str(state_file), "--buffered-request-timeout", "30000")
    with running_fleet(default_model_path, *options, agent_names=("agent-a",)) as fleet:
        state = httpx.get(f"{fleet.management_url}/api/v1/balancer_desired_state").json()
        state["inference_parameters"]["context_size"] = 3072
        assert httpx.put(f"{fleet.management_url}/api/v1/balancer_desired_state", json=state).status_code == 204
        assert json.loads(state_file.read_text())["inference_parameters"]["context_size"] == 3072
        first = fleet.agents["agent-a"]
        assert wait_for(lambda: _applied(first, 3072), timeout=60)

        # agent-b joins with its command line's 4096 cells while agent-a alone serves a steady stream:
        # agent-b is drained and caught up alone, agent-a stays up in HAProxy all along.
        first_status: list[str] = []
        with steady_requests(fleet.inference_url) as steady:
            late = fleet.start_agent("agent-b")

            def caught_up() -> bool:
                first_status.append(fleet.server_status("agent-a"))
                return _applied(late, 3072)

            assert wait_for(caught_up, timeout=60)
        assert steady.failures == []
        assert len(steady.served) >= 3
        assert set(first_status) == {"UP"}
        assert _context_size(first) == 3072
        assert answered_at_once(fleet.inference_url) == {"agent-a", "agent-b"}

        # A new balancer process on the same addresses starts with the kept state (applicable before any
        # agent reports); both agents, already holding it, rejoin and serve.
        fleet.restart_balancer(*options)
        applicable = httpx.get(f"{fleet.management_url}/api/v1/balancer_applicable_state").json()
        assert applicable is not None
        assert applicable["inference_parameters"]["context_size"] == 3072
        assert wait_for(lambda: fleet.names() == {"agent-a", "agent-b"}, timeout=10)
        assert httpx.get(f"{fleet.management_url}/api/v1/balancer_desired_state").json() == {
            **state,
            "chat_template_override": None,
        }
        assert generated_by(fleet.inference_url) in {"agent-a", "agent-b"}
        assert _applied(first, 3072)
        assert _applied(late, 3072)
