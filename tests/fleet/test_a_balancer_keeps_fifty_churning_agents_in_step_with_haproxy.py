"""A simulated large fleet: 50 fake agents (threads of this process speaking the agents' control protocol,
each behind a tiny HTTP server answering HAProxy's /ready checks and the management routes the balancer
calls) join one real balancer and its real HAProxy at 10 per second, are replaced at 10 per second, then
leave at 10 per second. The balancer's /api/v1/agents and HAProxy's servers agree within 2 s, no agent is
lost or listed twice, and /api/v1/agents answers within 100 ms (p95) throughout. Prints the figures
docs/fleet.md quotes."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from paddler.web.balancer.agent_report import AGENT_PATH
from paddler.web.balancer.haproxy_runtime import BACKEND, HaproxyRuntime

from .conftest import haproxy_runtime, start_balancer

AGENTS = 50
EVENT_SECONDS = 0.1  # 10 joins, leaves or replacements a second
CHURN_SECONDS = 6.0
AGREE_SECONDS = 2.0
API_P95_SECONDS = 0.1
LOOK_SECONDS = 0.05
REPORT_SECONDS = 1.0


class _AgentHandler(BaseHTTPRequestHandler):
    """What the balancer and HAProxy ask of an agent: /ready, and the management routes it gathers."""

    answers: ClassVar[dict[str, tuple[str, bytes]]] = {
        "/ready": ("text/plain", b"OK"),
        "/health": ("text/plain", b"OK"),
        "/metrics": ("text/plain; version=0.0.4", b""),
        "/api/v1/slots": ("application/json", b'{"slots": []}'),
    }

    def do_GET(self) -> None:
        content_type, body = self.answers.get(self.path, ("text/plain", b"not found"))
        self.send_response(200 if self.path in self.answers else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


class _AgentServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, *_: Any) -> None:
        """HAProxy may close a check's connection before the body is written: nothing to report."""


@dataclass
class FakeAgent:
    """One agent: its HTTP server, and a thread that reports every second until it leaves."""

    id: str
    management_url: str
    server: _AgentServer = field(init=False)
    joined_at: float = 0.0
    left_at: float = 0.0
    stopped: threading.Event = field(default_factory=threading.Event)
    failed_reports: int = 0
    longest_gap: float = 0.0
    longest_put: float = 0.0

    def __post_init__(self) -> None:
        self.server = _AgentServer(("127.0.0.1", 0), _AgentHandler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _report(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = {
            "desired_slots_total": 2,
            "download_current": 0,
            "download_filename": None,
            "download_total": 0,
            "id": self.id,
            "issues": [],
            "model_path": "/models/fake.gguf",
            "name": self.id,
            "slots_processing": 0,
            "slots_total": 2,
            "state_application_status": "Applied",
            "uses_chat_template_override": False,
        }
        return {"name": self.id, "inference_addr": self.address, "management_addr": self.address, "snapshot": snapshot}

    def _keep_reporting(self) -> None:
        url = f"{self.management_url}{AGENT_PATH}{self.id}"
        with httpx.Client(timeout=2) as client:
            last = time.monotonic()
            while not self.stopped.is_set():
                sending = time.monotonic()
                try:
                    client.put(url, json=self._report()).raise_for_status()
                except httpx.HTTPError:
                    self.failed_reports += 1
                now = time.monotonic()
                self.longest_gap = max(self.longest_gap, now - last)
                self.longest_put = max(self.longest_put, now - sending)
                last = now
                self.stopped.wait(REPORT_SECONDS)
            self.left_at = time.monotonic()
            client.delete(url).raise_for_status()

    def join(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.joined_at = time.monotonic()
        self.reporter = threading.Thread(target=self._keep_reporting, daemon=True)
        self.reporter.start()

    def leave(self) -> None:
        self.stopped.set()

    def close(self) -> None:
        self.reporter.join(timeout=5)
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Observation:
    at: float
    # When both views had been read: an agent leaving in between may be in one and not the other.
    done: float
    listed: list[str]
    in_haproxy: list[str]


def haproxy_servers(runtime: HaproxyRuntime) -> list[str]:
    """Agent ids of the servers in HAProxy's backend (`show servers state`: srv_name is the 4th field)."""
    lines = runtime.command(f"show servers state {BACKEND}").splitlines()[1:]
    names = [line.split()[3] for line in lines if line and not line.startswith("#")]
    return [name.removeprefix("agent_") for name in names if name.startswith("agent_")]


def observe(
    management_url: str, runtime: HaproxyRuntime, stopped: threading.Event
) -> tuple[list[Observation], list[float]]:
    """Both views of the fleet every 50 ms, and how long each /api/v1/agents took."""
    observations: list[Observation] = []
    latencies: list[float] = []
    with httpx.Client(timeout=5) as client:
        while not stopped.is_set():
            asked = time.monotonic()
            listed = [agent["id"] for agent in client.get(f"{management_url}/api/v1/agents").json()["agents"]]
            latencies.append(time.monotonic() - asked)
            in_haproxy = haproxy_servers(runtime)
            observations.append(Observation(asked, time.monotonic(), listed, in_haproxy))
            stopped.wait(LOOK_SECONDS)
    return observations, latencies


@pytest.fixture
def balancer() -> Iterator[tuple[str, HaproxyRuntime]]:
    """A real balancer, and its HAProxy's runtime API."""
    process, _, management_addr, log = start_balancer()
    try:
        yield f"http://{management_addr}", haproxy_runtime(log)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(log.parent, ignore_errors=True)


def _percentile(values: list[float], fraction: float) -> float:
    return sorted(values)[min(len(values) - 1, int(fraction * len(values)))]


def _seen_at(observations: list[Observation], agent_id: str, since: float, present: bool) -> float:
    """When both views first showed the agent (present) or first showed it gone, after `since`."""
    for observation in observations:
        listed = agent_id in observation.listed and agent_id in observation.in_haproxy
        missing = agent_id not in observation.listed and agent_id not in observation.in_haproxy
        if observation.at >= since and (listed if present else missing):
            return observation.at
    return float("inf")


def _spread(seconds: list[float]) -> dict[str, float]:
    return {name: round(1000 * _percentile(seconds, q), 1) for name, q in (("p50", 0.5), ("p95", 0.95), ("max", 1.0))}


def _lost(observations: list[Observation], agent: FakeAgent, visible_at: float) -> bool:
    """Whether either view dropped the agent while it was still reporting."""
    return any(
        agent.id not in seen.listed or agent.id not in seen.in_haproxy
        for seen in observations
        if visible_at <= seen.at and seen.done < agent.left_at
    )


def _longest_disagreement(observations: list[Observation]) -> float:
    """The longest time one agent was in one view and not in the other."""
    since: dict[str, float] = {}
    longest = 0.0
    for observation in observations:
        differing = set(observation.listed) ^ set(observation.in_haproxy)
        for agent_id in differing:
            since.setdefault(agent_id, observation.at)
            longest = max(longest, observation.at - since[agent_id])
        for agent_id in set(since) - differing:
            del since[agent_id]
    return longest


def test_fifty_agents_joining_and_leaving_at_ten_a_second_stay_in_step(balancer: tuple[str, HaproxyRuntime]) -> None:
    management_url, runtime = balancer
    names = (f"fake-{number:03d}" for number in itertools.count())
    alive: list[FakeAgent] = []
    everyone: list[FakeAgent] = []
    stopped = threading.Event()
    results: dict[str, Any] = {}
    observer = threading.Thread(target=lambda: results.update(seen=observe(management_url, runtime, stopped)))
    observer.start()
    started = time.monotonic()

    def join() -> None:
        agent = FakeAgent(next(names), management_url)
        agent.join()
        alive.append(agent)
        everyone.append(agent)

    for _ in range(AGENTS):
        join()
        time.sleep(EVENT_SECONDS)
    churn_until = time.monotonic() + CHURN_SECONDS
    shuffle = random.Random(14)
    while time.monotonic() < churn_until:
        alive.pop(shuffle.randrange(len(alive))).leave()
        join()
        time.sleep(EVENT_SECONDS)
    full_fleet = {agent.id for agent in alive}
    time.sleep(AGREE_SECONDS)
    while alive:
        alive.pop().leave()
        time.sleep(EVENT_SECONDS)
    for agent in everyone:
        agent.close()
    time.sleep(AGREE_SECONDS)
    stopped.set()
    observer.join()
    seconds = time.monotonic() - started

    observations, api = results["seen"]
    visible = [_seen_at(observations, agent.id, agent.joined_at, present=True) for agent in everyone]
    # An agent the churn took out again within a tenth of a second may come and go between two samples
    # (the observer's own round trips stretch to 0.2 s on a loaded host): only agents that stayed longer
    # than the time allowed to appear must have been seen.
    joins = [
        at - agent.joined_at
        for at, agent in zip(visible, everyone, strict=True)
        if agent.left_at - agent.joined_at >= AGREE_SECONDS
    ]
    leaves = [_seen_at(observations, agent.id, agent.left_at, present=False) - agent.left_at for agent in everyone]
    figures = {
        "agents": len(everyone),
        "seconds": round(seconds, 1),
        "join_to_visible_ms": _spread(joins),
        "leave_to_gone_ms": _spread(leaves),
        "api_agents_ms": _spread(api),
        "api_calls": len(api),
        "longest_disagreement_ms": round(1000 * _longest_disagreement(observations)),
        # An agent is dropped after 1.6 s without a report: how close the simulated ones came.
        "longest_report_gap_ms": _spread([agent.longest_gap for agent in everyone]),
        "longest_report_put_ms": _spread([agent.longest_put for agent in everyone]),
    }
    print("\nsimulated fleet:", json.dumps(figures))

    assert all(len(set(seen.listed)) == len(seen.listed) for seen in observations), "an agent listed twice"
    assert all(len(set(seen.in_haproxy)) == len(seen.in_haproxy) for seen in observations)
    settled = [seen for seen in observations if seen.at > churn_until + AGREE_SECONDS - 0.5][:1]
    assert settled
    assert set(settled[0].listed) == set(settled[0].in_haproxy) == full_fleet, "an agent lost"
    assert not [agent.id for at, agent in zip(visible, everyone, strict=True) if _lost(observations, agent, at)]
    assert sum(agent.failed_reports for agent in everyone) == 0
    assert max(joins) < AGREE_SECONDS
    assert max(leaves) < AGREE_SECONDS
    assert _longest_disagreement(observations) < AGREE_SECONDS
    assert observations[-1].listed == observations[-1].in_haproxy == []
    assert _percentile(api, 0.95) < API_P95_SECONDS
