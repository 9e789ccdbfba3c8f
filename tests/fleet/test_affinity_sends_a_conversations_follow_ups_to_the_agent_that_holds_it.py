"""A balancer with `--affinity conversation` and two agents of 2 slots: requests naming one session (the
X-Session-Id header) all go to one agent, different sessions spread over both, a conversation without the
header follows its first messages, and a session whose agent is busy still runs at once on the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paddler.startup.haproxy_config import SESSION_HEADER
from tests.web.conftest import wait_for

from .conftest import AGENT_NAMES, RunningFleet, generated_by, running_fleet, stream_completion


@pytest.fixture(scope="module")
def affinity_fleet(default_model_path: Path) -> Iterator[RunningFleet]:
    options = ("--affinity", "conversation", "--buffered-request-timeout", "30000")
    with running_fleet(default_model_path, *options) as fleet:
        yield fleet


def _session(key: str) -> dict[str, str]:
    return {SESSION_HEADER: key}


def _processing(fleet: RunningFleet) -> int:
    return sum(agent["slots_processing"] for agent in fleet.listed())


def test_one_session_stays_on_one_agent_and_different_sessions_spread(affinity_fleet: RunningFleet) -> None:
    url = affinity_fleet.inference_url
    assert len({generated_by(url, headers=_session("conversation-1")) for _ in range(4)}) == 1
    assert {generated_by(url, headers=_session(f"conversation-{index}")) for index in range(10)} == set(AGENT_NAMES)


def test_without_the_header_a_follow_up_goes_where_its_conversation_began(affinity_fleet: RunningFleet) -> None:
    url = affinity_fleet.inference_url
    for topic in ("ships", "mountains", "bread"):
        system = {"role": "system", "content": "You answer briefly."}
        first = [system, {"role": "user", "content": f"Tell me about {topic}."}]
        follow_up = [*first, {"role": "assistant", "content": "Gladly."}, {"role": "user", "content": "More."}]
        assert generated_by(url, history=first) == generated_by(url, history=follow_up), topic


def test_a_session_whose_agent_is_busy_runs_at_once_on_the_other(affinity_fleet: RunningFleet) -> None:
    home = generated_by(affinity_fleet.inference_url, headers=_session("busy"))
    outcomes: list[dict[str, Any]] = [{} for _ in range(3)]
    threads = []
    for started, outcome in enumerate(outcomes, start=1):
        threads.append(stream_completion(affinity_fleet.inference_url, 200, outcome, headers=_session("busy")))
        assert wait_for(lambda: _processing(affinity_fleet) == started, timeout=15)  # noqa: B023
    busy = {agent["name"]: agent["slots_processing"] for agent in affinity_fleet.listed()}
    assert affinity_fleet.buffered() == 0  # none of the three waits for the session's agent
    for thread in threads:
        thread.join(timeout=60)
    assert [(outcome.get("status"), outcome.get("done")) for outcome in outcomes] == [(200, True)] * 3
    assert busy[home] >= 1
    assert set(busy.values()) == {1, 2}, busy
