"""An agent told to stop (SIGTERM) keeps taking requests until its balancer confirms that HAProxy sends it
no more: a request that reaches it before then was routed there by a balancer that still counted on it.

The balancer here is a stand-in that answers the agent's reports as ours does, but takes a second over
the report that says the agent leaves (a loaded balancer, a slow admin socket): the fault no real
balancer can be made to show on demand. The agent used to stop taking requests 0.2 s after the signal
whatever the balancer had done, so a request in that second got the "shutting down" error line. Once it
stops taking requests, what still reaches it gets 425, which HAProxy retries on another agent."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import free_port, start_server, stop_server, wait_for

from .conftest import MODEL_ID

SLOW_DRAIN_SECONDS = 1.5


class SlowBalancer(ThreadingHTTPServer):
    """Takes every report at once, except a leaving one: that takes SLOW_DRAIN_SECONDS."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _ReportHandler)
        self.leaving_reported = threading.Event()
        self.departed = threading.Event()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _ReportHandler(BaseHTTPRequestHandler):
    server: SlowBalancer

    def do_PUT(self) -> None:
        report: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if report["leaving"]:
            time.sleep(SLOW_DRAIN_SECONDS)
            self.server.leaving_reported.set()
        self._no_content()

    def do_DELETE(self) -> None:
        self.server.departed.set()
        self._no_content()

    def _no_content(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def balancer() -> Iterator[SlowBalancer]:
    server = SlowBalancer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _answer(url: str) -> httpx.Response:
    body = {"raw_prompt": "The capital of France is", "max_tokens": 4}
    return httpx.post(f"{url}/api/v1/continue_from_raw_prompt", json=body, timeout=60)


def test_a_request_before_the_balancer_confirmed_the_drain_is_served_and_one_after_goes_back(
    default_model_path: Path, balancer: SlowBalancer
) -> None:
    # A drain long enough for the long request even on a loaded host.
    agent = start_server(
        default_model_path, "--slots", "2", "--drain-timeout", "120", "--balancer-addr", balancer.address
    )
    try:
        running: dict[str, Any] = {}
        long_request = threading.Thread(target=lambda: running.update(_long_completion(agent.inference_url)))
        long_request.start()
        assert wait_for(lambda: agent.slots_processing() == 1, timeout=15)
        agent.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # past the old fixed wait, well inside the balancer's slow drain
        assert not balancer.leaving_reported.is_set()
        served = _answer(agent.inference_url)
        assert served.status_code == 200
        assert "Response" in json.loads(served.text.strip().splitlines()[-1])
        # What counts is the order (served before the confirmation, 425 after), not how fast a loaded host
        # gets there: one fresh-clone run saw no leaving report 5 s after the answer.
        assert balancer.leaving_reported.wait(timeout=30)
        time.sleep(0.5)
        # Drained: the engine takes nothing new, and what still arrives is sent back for another agent.
        assert _answer(agent.inference_url).status_code == 425
        long_request.join(timeout=120)
        assert running["usage"]["completion_tokens"] == 400, running
        assert agent.process.wait(timeout=30) == 0
        assert wait_for(balancer.departed.is_set, timeout=5)
    finally:
        stop_server(agent)


def _long_completion(url: str) -> dict[str, Any]:
    # Long enough (no end of generation) to keep the agent up past the checks above: it exits once idle.
    body = {"model": MODEL_ID, "prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True}
    answer: dict[str, Any] = httpx.post(f"{url}/v1/completions", json=body, timeout=120).json()
    return answer
