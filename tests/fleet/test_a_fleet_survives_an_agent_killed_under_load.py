"""SIGKILL one of two agents while every slot is busy and two requests wait: the waiting requests complete
on the other agent, the killed agent's streams end at once with an error event (the balancer's stream
relay adds it; never a hang), it is gone from /api/v1/agents within 2 s, and started again it registers
and receives traffic."""

from __future__ import annotations

import time
from typing import Any

from paddler.startup.haproxy_config import CUT_DESCRIPTION
from tests.web.conftest import wait_for

from .conftest import RunningFleet, answered_at_once, haproxy_runs_the_relay, stream_completion


def test_an_agent_killed_under_load_loses_only_its_running_streams_and_can_come_back(fleet: RunningFleet) -> None:
    assert haproxy_runs_the_relay()
    running: list[dict[str, Any]] = [{} for _ in range(4)]
    threads = [stream_completion(fleet.inference_url, 400, outcome) for outcome in running]
    assert wait_for(lambda: sum(agent["slots_processing"] for agent in fleet.listed()) == 4, timeout=15)
    waiting: list[dict[str, Any]] = [{} for _ in range(2)]
    threads += [stream_completion(fleet.inference_url, 20, outcome) for outcome in waiting]
    assert wait_for(lambda: fleet.buffered() == 2, timeout=10)

    killed = fleet.agents["agent-a"]
    killed.process.kill()
    killed_at = time.monotonic()
    assert wait_for(lambda: "agent-a" not in fleet.names(), timeout=2.5)
    assert time.monotonic() - killed_at < 2.0

    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a request hung"
    assert [(outcome.get("status"), outcome.get("done")) for outcome in waiting] == [(200, True)] * 2
    cut = [outcome for outcome in running if "stream_error" in outcome]
    assert len(cut) == 2, running  # the killed agent's two streams, and only those
    # Each ends as an OpenAI stream that failed: an error event, then [DONE], at once, never a hang.
    assert all(outcome["stream_error"]["message"] == CUT_DESCRIPTION for outcome in cut), cut
    assert all(outcome["done"] and outcome["ended"] - killed_at < 5 for outcome in cut), cut
    assert [outcome.get("error") for outcome in running + waiting] == [None] * 6, running + waiting

    fleet.start_agent("agent-a")
    assert "agent-a" in answered_at_once(fleet.inference_url)
