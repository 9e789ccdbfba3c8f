"""One agent of 1 slot behind a balancer whose buffer holds 1 request for 1.5 s: the request past the
buffer gets Paddler's 503 "Buffered requests overflow" at once, and the buffered one, still waiting when
its time is up, gets Paddler's 504 (both answered by HAProxy, in Paddler's Error envelope)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import stream_completion_until, wait_for

from .conftest import MODEL_ID, RunningFleet, running_fleet

TIMEOUT_MS = 1500
CONVERSATION = {
    "add_generation_prompt": True,
    "enable_thinking": False,
    "max_tokens": 4,
    "conversation_history": [{"role": "user", "content": "Hi"}],
}


@pytest.fixture(scope="module")
def small_fleet(default_model_path: Path) -> Iterator[RunningFleet]:
    options = ("--max-buffered-requests", "1", "--buffered-request-timeout", str(TIMEOUT_MS))
    with running_fleet(default_model_path, *options, agent_names=("agent-a",), slots=1) as fleet:
        yield fleet


def _ask(fleet: RunningFleet, outcome: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        started = time.monotonic()
        response = httpx.post(
            f"{fleet.inference_url}/api/v1/continue_from_conversation_history", json=CONVERSATION, timeout=30
        )
        last_line = json.loads(response.text.strip().splitlines()[-1])
        outcome.update(status=response.status_code, body=last_line, seconds=time.monotonic() - started)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _paddler_error(outcome: dict[str, Any]) -> tuple[int, str]:
    error = outcome["body"]["Error"]
    assert error["request_id"]
    return error["error"]["code"], error["error"]["description"]


def test_past_the_buffer_the_excess_gets_503_and_a_wait_past_the_timeout_gets_504(small_fleet: RunningFleet) -> None:
    leave = threading.Event()
    holding = stream_completion_until(small_fleet.inference_url, leave, "Once upon a time", MODEL_ID)
    try:
        assert wait_for(lambda: small_fleet.listed()[0]["slots_processing"] == 1, timeout=15)
        buffered: dict[str, Any] = {}
        waiting = _ask(small_fleet, buffered)
        assert wait_for(lambda: small_fleet.buffered() == 1, timeout=5), "the second request should wait"
        excess: dict[str, Any] = {}
        _ask(small_fleet, excess).join()
        waiting.join()
    finally:
        leave.set()
        holding.join()
    assert excess["status"] == 503
    assert _paddler_error(excess) == (503, "Buffered requests overflow")
    assert excess["seconds"] < 1.0  # refused at once, not after a wait
    assert buffered["status"] == 504
    assert _paddler_error(buffered) == (504, "Waiting for available slot timed out")
    assert buffered["seconds"] >= TIMEOUT_MS / 1000 - 0.1
    # The slot is free again: the next request is served.
    after: dict[str, Any] = {}
    _ask(small_fleet, after).join()
    assert after["status"] == 200
