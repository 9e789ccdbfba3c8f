"""One agent of 1 slot behind a balancer whose buffer holds 1 request for 1.5 s: the request past the
buffer gets Paddler's 503 "Buffered requests overflow" at once, and the buffered one, still waiting when
its time is up, gets Paddler's 504 (both answered by HAProxy, in Paddler's Error envelope)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import stream_completion_until, wait_for

from .conftest import MODEL_ID, RunningFleet, ask_conversation, paddler_error, running_fleet

TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def small_fleet(default_model_path: Path) -> Iterator[RunningFleet]:
    options = ("--max-buffered-requests", "1", "--buffered-request-timeout", str(TIMEOUT_MS))
    with running_fleet(default_model_path, *options, agent_names=("agent-a",), slots=1) as fleet:
        yield fleet


def test_past_the_buffer_the_excess_gets_503_and_a_wait_past_the_timeout_gets_504(small_fleet: RunningFleet) -> None:
    leave = threading.Event()
    holding = stream_completion_until(small_fleet.inference_url, leave, "Once upon a time", MODEL_ID)
    try:
        assert wait_for(lambda: small_fleet.listed()[0]["slots_processing"] == 1, timeout=15)
        buffered: dict[str, Any] = {}
        waiting = ask_conversation(small_fleet.inference_url, buffered)
        assert wait_for(lambda: small_fleet.buffered() == 1, timeout=5), "the second request should wait"
        excess: dict[str, Any] = {}
        ask_conversation(small_fleet.inference_url, excess).join()
        waiting.join()
    finally:
        leave.set()
        holding.join()
    assert excess["status"] == 503
    assert paddler_error(excess) == (503, "Buffered requests overflow")
    assert excess["seconds"] < 1.0  # refused at once, not after a wait
    assert buffered["status"] == 504
    assert paddler_error(buffered) == (504, "Waiting for available slot timed out")
    assert buffered["seconds"] >= TIMEOUT_MS / 1000 - 0.1
    # The slot is free again: the next request is served.
    after: dict[str, Any] = {}
    ask_conversation(small_fleet.inference_url, after).join()
    assert after["status"] == 200
