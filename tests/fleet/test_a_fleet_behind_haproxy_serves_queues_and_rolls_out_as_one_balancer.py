"""A balancer and two agents of 2 slots: Paddler's client sees both, requests spread over them, the
excess waits in HAProxy's queue, a desired state rolls out one agent at a time while requests keep
succeeding, and an agent stopped with SIGTERM drains before it leaves."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import httpx
from paddler_client.client_inference import ClientInference
from paddler_client.client_management import ClientManagement
from paddler_client.continue_from_conversation_history_params import ContinueFromConversationHistoryParams
from paddler_client.conversation_message import ConversationMessage

from tests.web.conftest import wait_for

from .conftest import AGENT_NAMES, RunningFleet, generated_by, steady_requests, stream_completion


def _question(max_tokens: int) -> ContinueFromConversationHistoryParams:
    return ContinueFromConversationHistoryParams(
        add_generation_prompt=True,
        conversation_history=[ConversationMessage(role="user", content="Tell me about the sea.")],
        enable_thinking=False,
        max_tokens=max_tokens,
    )


def test_paddler_client_lists_both_agents_and_four_streams_are_spread_over_them(fleet: RunningFleet) -> None:
    async def scenario() -> tuple[set[str], set[str], str]:
        agents = await ClientManagement(fleet.management_url).get_agents()
        async with ClientInference(fleet.inference_url) as inference:

            async def one() -> str:
                names = set()
                async for message in inference.post_continue_from_conversation_history(_question(40)):
                    names.add(message.generated_by)
                return ",".join(sorted(name for name in names if name))

            spread = await asyncio.gather(*(one() for _ in range(4)))
        async with ClientInference(fleet.inference_url, socket_pool_size=1) as socket_client:
            stream = await socket_client.continue_from_conversation_history(_question(8))
            over_socket = [message async for message in stream]
        return {agent.name or "" for agent in agents.agents}, set(spread), over_socket[-1].generated_by or ""

    listed, spread, socket_agent = asyncio.run(scenario())
    assert listed == set(AGENT_NAMES)
    assert spread == set(AGENT_NAMES)
    assert socket_agent in AGENT_NAMES
    agents = fleet.listed()
    assert all(agent["slots_total"] == 2 and agent["model_path"].endswith(".gguf") for agent in agents)


def test_six_requests_four_run_two_wait_in_the_queue_then_all_complete(fleet: RunningFleet) -> None:
    outcomes: list[dict[str, Any]] = [{} for _ in range(6)]
    threads = [stream_completion(fleet.inference_url, 120, outcome) for outcome in outcomes]
    assert wait_for(lambda: fleet.buffered() == 2, timeout=15), "two requests should wait for a slot"
    metrics = httpx.get(f"{fleet.management_url}/metrics").text
    assert "paddler_slots_total 4.0" in metrics
    for thread in threads:
        thread.join(timeout=60)
    assert [(outcome.get("status"), outcome.get("done"), outcome.get("error")) for outcome in outcomes] == [
        (200, True, None)
    ] * 6
    assert fleet.buffered() == 0


def _context_size(fleet: RunningFleet, name: str) -> int:
    state = httpx.get(f"{fleet.agents[name].management_url}/api/v1/balancer_desired_state").json()
    return int(state["inference_parameters"]["context_size"])


def _ready(fleet: RunningFleet, name: str) -> bool:
    try:
        return httpx.get(f"{fleet.agents[name].inference_url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_desired_state_put_at_the_balancer_is_applied_one_agent_at_a_time_without_a_failed_request(
    fleet: RunningFleet,
) -> None:
    state = httpx.get(f"{fleet.management_url}/api/v1/balancer_desired_state").json()
    state["inference_parameters"]["context_size"] = 3072
    samples: list[tuple[int, bool, int, bool]] = []
    with steady_requests(fleet.inference_url) as steady:
        assert httpx.put(f"{fleet.management_url}/api/v1/balancer_desired_state", json=state).status_code == 204

        def both_applied() -> bool:
            a, b = AGENT_NAMES
            sample = (_context_size(fleet, a), _ready(fleet, a), _context_size(fleet, b), _ready(fleet, b))
            samples.append(sample)
            return sample == (3072, True, 3072, True) and fleet.listed()[0]["state_application_status"] == "Applied"

        assert wait_for(both_applied, timeout=60)
    assert steady.failures == []
    assert len(steady.served) >= 3
    assert not any(not a_ready and not b_ready for _, a_ready, _, b_ready in samples), "both agents were out at once"
    # The agent that got the state second got it only once the first had applied it and was ready again.
    first_alone = next((sample for sample in samples if (sample[0] == 3072) != (sample[2] == 3072)), None)
    if first_alone is not None:
        first_ready = 1 if first_alone[0] == 3072 else 3
        both = next(sample for sample in samples if sample[0] == sample[2] == 3072)
        assert both[first_ready]
    assert httpx.get(f"{fleet.management_url}/api/v1/balancer_desired_state").json() == {
        **state,
        "chat_template_override": None,
    }


def test_an_agent_stopped_with_sigterm_finishes_its_running_requests_and_leaves(fleet: RunningFleet) -> None:
    outcomes: list[dict[str, Any]] = [{} for _ in range(4)]
    threads = [stream_completion(fleet.inference_url, 150, outcome) for outcome in outcomes]
    leaving = fleet.agents["agent-b"]
    assert wait_for(lambda: any(agent["slots_processing"] == 2 for agent in fleet.listed()), timeout=15)
    leaving.process.send_signal(signal.SIGTERM)
    # Until its balancer confirms the drain the leaving agent still takes what HAProxy sends it (by
    # design), so one answer from agent-a proves nothing: three in a row, once the drain is in place.
    assert wait_for(lambda: all(generated_by(fleet.inference_url) == "agent-a" for _ in range(3)), timeout=15)
    for thread in threads:
        thread.join(timeout=60)
    assert [(outcome.get("status"), outcome.get("done"), outcome.get("error")) for outcome in outcomes] == [
        (200, True, None)
    ] * 4
    assert leaving.process.wait(timeout=30) == 0
    assert wait_for(lambda: fleet.names() == {"agent-a"}, timeout=5)


def test_the_balancer_says_how_to_install_haproxy_when_it_is_missing() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "paddler.cli",
            "balancer",
            "--inference-addr",
            "127.0.0.1:1",
            "--management-addr",
            "127.0.0.1:2",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PADDLER_HAPROXY": "haproxy-that-is-not-installed"},
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert "haproxy is not installed" in finished.stderr
    assert "apt-get install haproxy" in finished.stderr
