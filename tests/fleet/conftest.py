"""A fleet on loopback: a real `paddler balancer` (with a real HAProxy) and agents (`paddler serve
--balancer-addr`) of the default model, 2 slots each, started by the tests and stopped afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from paddler.startup.haproxy_process import find_haproxy, haproxy_build
from paddler.web.balancer.haproxy_runtime import HaproxyRuntime
from tests.web.conftest import RunningServer, free_port, start_server, stop_server, wait_for

AGENT_NAMES = ("agent-a", "agent-b")
# Every agent serves the model under its file's name (and its own --name).
MODEL_ID = "SmolLM2-135M-Instruct.Q4_1"


def haproxy_runs_the_relay() -> bool:
    """Whether the HAProxy the balancer finds runs the stream relay; the tests that need it say how to get it."""
    assert haproxy_build(find_haproxy()).runs_the_relay, "the stream relay needs HAProxy 3.0+: scripts/install-haproxy"
    return True


@dataclass
class RunningFleet:
    balancer: subprocess.Popen[str]
    inference_url: str
    management_url: str
    management_addr: str
    log: Path
    model_path: Path
    agents: dict[str, RunningServer] = field(default_factory=dict)

    def listed(self) -> list[dict[str, Any]]:
        agents: list[dict[str, Any]] = httpx.get(f"{self.management_url}/api/v1/agents").json()["agents"]
        return agents

    def names(self) -> set[str]:
        return {agent["name"] for agent in self.listed()}

    def buffered(self) -> int:
        response = httpx.get(f"{self.management_url}/api/v1/buffered_requests")
        return int(response.json()["buffered_requests_current"])

    def server_status(self, name: str) -> str:
        """The agent's server status in the balancer's HAProxy (UP, DRAIN, DOWN, MAINT), through its admin
        socket."""
        ids = {agent["name"]: agent["id"] for agent in self.listed()}
        return haproxy_runtime(self.log).stats().servers[f"agent_{ids[name]}"].status

    def restart_balancer(self, *options: str) -> None:
        """Stop the balancer and start it again on the same addresses (the agents keep running)."""
        stop_balancer(self)
        ports = (int(self.inference_url.rpartition(":")[2]), int(self.management_addr.rpartition(":")[2]))
        self.balancer, _, _, self.log = start_balancer(*options, ports=ports)

    def start_agent(self, name: str, slots: int = 2, *, also_to: tuple[str, ...] = ()) -> RunningServer:
        """An agent reporting to this balancer, and to the balancers' management addresses `also_to`."""
        others = [option for address in also_to for option in ("--balancer-addr", address)]
        agent = start_server(
            self.model_path,
            "--slots",
            str(slots),
            "--threads",
            "1",
            "--temperature",
            "0",
            "--name",
            name,
            "--balancer-addr",
            self.management_addr,
            *others,
        )
        self.agents[name] = agent
        assert wait_for(lambda: name in self.names(), timeout=10), f"{name} never registered"
        return agent


def start_balancer(*extra: str, ports: tuple[int, int] | None = None) -> tuple[subprocess.Popen[str], str, str, Path]:
    """`ports`: the inference and management ports (to start again where a stopped balancer was)."""
    inference, management = ports or (free_port(), free_port())
    # A folder of its own (its TMPDIR too), where its log and HAProxy's admin socket are found; short, as
    # a socket's path is limited to 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="pfb-"))
    log = (folder / "balancer.log").open("w+")
    command = [
        sys.executable,
        "-m",
        "paddler.cli",
        "--log-level",
        "WARNING",
        "balancer",
        "--inference-addr",
        f"127.0.0.1:{inference}",
        "--management-addr",
        f"127.0.0.1:{management}",
        *extra,
    ]
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, "TMPDIR": str(folder)}
    )
    log.close()
    management_url = f"http://127.0.0.1:{management}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"paddler balancer exited early:\n{(folder / 'balancer.log').read_text()}")
        try:
            return httpx.get(f"{management_url}/health").status_code == 200
        except httpx.TransportError:
            return False

    assert wait_for(answers, timeout=20), "the balancer did not start"
    return process, f"http://127.0.0.1:{inference}", f"127.0.0.1:{management}", folder / "balancer.log"


def haproxy_runtime(log: Path) -> HaproxyRuntime:
    """The runtime API of the HAProxy of the balancer whose log (from start_balancer) this is."""
    return HaproxyRuntime(next(log.parent.glob("paddler-haproxy-*/admin.sock")))


def stop_fleet(fleet: RunningFleet) -> str:
    for agent in fleet.agents.values():
        if agent.process.poll() is None:
            agent.process.kill()
        stop_server(agent)
    return stop_balancer(fleet)


def stop_balancer(fleet: RunningFleet) -> str:
    """Stop the fleet's balancer with SIGTERM and return its log; safe to call twice."""
    if not fleet.log.exists():
        return ""
    fleet.balancer.send_signal(signal.SIGTERM)
    try:
        fleet.balancer.wait(timeout=10)
    except subprocess.TimeoutExpired:
        fleet.balancer.kill()
    output = fleet.log.read_text()
    shutil.rmtree(fleet.log.parent)
    return output


def balancer_fleet(model_path: Path, *balancer_options: str) -> RunningFleet:
    """A balancer started with `balancer_options`, with no agent yet."""
    process, inference_url, management_addr, log = start_balancer(*balancer_options)
    return RunningFleet(process, inference_url, f"http://{management_addr}", management_addr, log, model_path)


@contextmanager
def running_fleet(
    model_path: Path, *balancer_options: str, agent_names: tuple[str, ...] = AGENT_NAMES, slots: int = 2
) -> Iterator[RunningFleet]:
    """A balancer started with `balancer_options`, and agents of `slots` slots each, stopped afterwards."""
    running = balancer_fleet(model_path, *balancer_options)
    try:
        for name in agent_names:
            running.start_agent(name, slots)
        yield running
    finally:
        stop_fleet(running)


@pytest.fixture(scope="module")
def fleet(default_model_path: Path) -> Iterator[RunningFleet]:
    """A balancer (buffered requests wait up to 30 s) and agents a and b, 2 slots each."""
    with running_fleet(default_model_path, "--buffered-request-timeout", "30000") as running:
        yield running


def stream_completion(
    url: str, max_tokens: int, outcome: dict[str, Any], headers: dict[str, str] | None = None
) -> threading.Thread:
    """A streamed completion through `url` on a thread; `outcome` gets its status, whether it ended with
    [DONE] (`done`), the error event in the stream (`stream_error`) or the transport error (`error`) that
    ended it early, if any, and when it ended (`ended`, monotonic)."""

    def run() -> None:
        body = {"model": MODEL_ID, "prompt": "Once upon a time", "max_tokens": max_tokens, "ignore_eos": True}
        started = time.monotonic()
        try:
            with httpx.stream(
                "POST", f"{url}/v1/completions", json={**body, "stream": True}, headers=headers, timeout=60
            ) as response:
                outcome["status"] = response.status_code
                for line in response.iter_lines():
                    outcome["done"] = outcome.get("done", False) or line == "data: [DONE]"
                    if line.startswith('data: {"error"'):
                        outcome["stream_error"] = json.loads(line.removeprefix("data: "))["error"]
        except httpx.HTTPError as error:
            outcome["error"] = repr(error)
        outcome["ended"] = time.monotonic()
        outcome["seconds"] = outcome["ended"] - started

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def generated_by(
    url: str,
    max_tokens: int = 4,
    headers: dict[str, str] | None = None,
    history: list[dict[str, str]] | None = None,
) -> str:
    """Who answered one short conversation (by default "Hi") through `url` (Paddler's NDJSON names the agent)."""
    body = {
        "add_generation_prompt": True,
        "enable_thinking": False,
        "max_tokens": max_tokens,
        "conversation_history": history or [{"role": "user", "content": "Hi"}],
    }
    response = httpx.post(f"{url}/api/v1/continue_from_conversation_history", json=body, headers=headers, timeout=60)
    response.raise_for_status()
    last = json.loads(response.text.strip().splitlines()[-1])
    assert "Response" in last, f"the fleet answered {response.text!r}"
    name: str = last["Response"]["generated_by"]
    return name


def ask_conversation(url: str, outcome: dict[str, Any]) -> threading.Thread:
    """A short conversation ("Hi") through `url` on a thread; `outcome` gets its status, its last NDJSON line
    (`body`) and how long it took (`seconds`)."""
    body = {
        "add_generation_prompt": True,
        "enable_thinking": False,
        "max_tokens": 4,
        "conversation_history": [{"role": "user", "content": "Hi"}],
    }

    def run() -> None:
        started = time.monotonic()
        response = httpx.post(f"{url}/api/v1/continue_from_conversation_history", json=body, timeout=60)
        last_line = json.loads(response.text.strip().splitlines()[-1])
        outcome.update(status=response.status_code, body=last_line, seconds=time.monotonic() - started)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def paddler_error(outcome: dict[str, Any]) -> tuple[int, str]:
    """The code and description of Paddler's Error envelope in an outcome of ask_conversation."""
    error = outcome["body"]["Error"]
    assert error["request_id"]
    return error["error"]["code"], error["error"]["description"]


@dataclass
class SteadyRequests:
    """Who served each request of a steady stream, and the errors of those that failed."""

    served: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@contextmanager
def steady_requests(url: str) -> Iterator[SteadyRequests]:
    """One short conversation after another through `url`, on a thread, until the block ends."""
    stop, steady = threading.Event(), SteadyRequests()

    def run() -> None:
        while not stop.is_set():
            try:
                steady.served.append(generated_by(url))
            except (httpx.HTTPError, KeyError) as error:
                steady.failures.append(repr(error))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield steady
    finally:
        stop.set()
        thread.join()


def answered_at_once(url: str) -> set[str]:
    """Who answered four requests sent at once through `url`: on two agents of 2 slots, while the first
    agent's slots are busy the rest go to the other, so both by construction (not by HAProxy's tie order)."""
    with ThreadPoolExecutor(4) as pool:
        return set(pool.map(lambda _: generated_by(url, max_tokens=48), range(4)))


os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
