"""Scale from zero, as Paddler's balancer: while no agent is up, requests wait in the buffer (counted in
buffered_requests) and an agent that starts late serves them; without one they get Paddler's 504 after
the buffered request timeout, and past --max-buffered-requests Paddler's 503 at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.web.conftest import wait_for

from .conftest import ask_conversation, balancer_fleet, paddler_error, running_fleet, stop_balancer

TIMEOUT_MS = 1500


def test_requests_sent_before_any_agent_started_are_served_by_the_agent_that_starts_late(
    default_model_path: Path,
) -> None:
    with running_fleet(default_model_path, "--buffered-request-timeout", "60000", agent_names=()) as fleet:
        outcomes: list[dict[str, Any]] = [{}, {}, {}]
        threads = [ask_conversation(fleet.inference_url, outcome) for outcome in outcomes]
        assert wait_for(lambda: fleet.buffered() == 3, timeout=10), "the requests should wait for an agent"
        fleet.start_agent("agent-late")
        for thread in threads:
            thread.join(timeout=60)
        assert [outcome.get("status") for outcome in outcomes] == [200] * 3
        assert {outcome["body"]["Response"]["generated_by"] for outcome in outcomes} == {"agent-late"}
        assert fleet.buffered() == 0


def test_without_an_agent_a_request_gets_504_after_the_timeout_and_the_excess_503_at_once(
    default_model_path: Path,
) -> None:
    fleet = balancer_fleet(
        default_model_path, "--max-buffered-requests", "1", "--buffered-request-timeout", str(TIMEOUT_MS)
    )
    try:
        waiting: dict[str, Any] = {}
        thread = ask_conversation(fleet.inference_url, waiting)
        assert wait_for(lambda: fleet.buffered() == 1, timeout=5)
        excess: dict[str, Any] = {}
        ask_conversation(fleet.inference_url, excess).join()
        thread.join()
        assert fleet.buffered() == 0
        # Too large for HAProxy to keep for a retry (over its 128 KB buffer): not held, refused at once.
        large = {"conversation_history": [{"role": "user", "content": "word " * 40000}], "max_tokens": 4}
        refused = httpx.post(f"{fleet.inference_url}/api/v1/continue_from_conversation_history", json=large, timeout=10)
        # A report whose address HAProxy could not reach is refused rather than added.
        report = {"name": "x", "inference_addr": "nowhere", "management_addr": "127.0.0.1:1", "snapshot": {}}
        bad_report = httpx.put(f"{fleet.management_url}/api/v1/fleet/agents/x", json=report)
    finally:
        stop_balancer(fleet)
    assert excess["status"] == 503
    assert paddler_error(excess) == (503, "Buffered requests overflow")
    assert excess["seconds"] < 1.0
    assert waiting["status"] == 504
    assert paddler_error(waiting) == (504, "Waiting for available slot timed out")
    assert waiting["seconds"] >= TIMEOUT_MS / 1000 - 0.1
    assert refused.status_code == 503
    assert paddler_error({"body": refused.json()}) == (503, "No agent is serving")
    assert bad_report.status_code == 400
