"""A real `paddler serve` process on loopback ports, started per configuration and stopped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningServer:
    process: subprocess.Popen[str]
    inference_url: str
    management_url: str
    log: Path

    @property
    def socket_url(self) -> str:
        return self.inference_url.replace("http://", "ws://") + "/api/v1/inference_socket"

    def slots_processing(self) -> int:
        agents = httpx.get(f"{self.management_url}/api/v1/agents").json()["agents"]
        return int(agents[0]["slots_processing"])

    def agent(self) -> dict[str, Any]:
        """This server as the management API's single agent."""
        agent: dict[str, Any] = httpx.get(f"{self.management_url}/api/v1/agents").json()["agents"][0]
        return agent

    def desired_state(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.management_url}/api/v1/balancer_desired_state").json()
        return state

    def buffered(self) -> int:
        return int(httpx.get(f"{self.management_url}/api/v1/buffered_requests").json()["buffered_requests_current"])


def start_server(
    model_path: Path,
    *extra: str,
    environment: dict[str, str] | None = None,
    ports: tuple[int, int] | None = None,
) -> RunningServer:
    """`ports`: the inference and management ports (to start again where a stopped server was)."""
    inference, management = ports or (free_port(), free_port())
    command = [
        sys.executable,
        "-m",
        "paddler.cli",
        "--log-level",
        "WARNING",
        "serve",
        "--quiet",
        "--model",
        str(model_path),
        "--threads",
        "2",
        "--context-size",
        "4096",
        "--name",
        "agent-1",
        "--inference-addr",
        f"127.0.0.1:{inference}",
        "--management-addr",
        f"127.0.0.1:{management}",
        *extra,
    ]
    # A file, not a pipe: an unread pipe fills up and blocks the server's logging.
    log = tempfile.NamedTemporaryFile("w+", prefix="paddler-serve-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(environment or {})}
    )
    server = RunningServer(process, f"http://127.0.0.1:{inference}", f"http://127.0.0.1:{management}", Path(log.name))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"paddler serve exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.inference_url}/ready").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("paddler serve did not become ready")


def stop_server(server: RunningServer) -> str:
    """Stop with SIGTERM (a drain) and return the server's log; safe to call twice."""
    if not server.log.exists():
        return ""
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    output = server.log.read_text()
    server.log.unlink()
    return output


ServerFactory = Callable[..., RunningServer]


def openai_client(base_url: str, api_key: str = "unused") -> openai.OpenAI:
    """The official client against one of our addresses; no retries, so every error shows."""
    return openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)


@pytest.fixture(scope="session")
def server(default_model_path: Path) -> Iterator[RunningServer]:
    """The shared server: generation and embeddings, 4 slots."""
    running = start_server(default_model_path, "--enable-embeddings", "--slots", "4", "--temperature", "0")
    yield running
    stop_server(running)


@pytest.fixture
def server_factory(default_model_path: Path) -> Iterator[ServerFactory]:
    started: list[RunningServer] = []

    def build(*extra: str, environment: dict[str, str] | None = None) -> RunningServer:
        running = start_server(default_model_path, *extra, environment=environment)
        started.append(running)
        return running

    yield build
    for running in started:
        stop_server(running)


def stream_completion_until(
    inference_url: str, leave: threading.Event, prompt: str, model: str = "agent-1"
) -> threading.Thread:
    """A long streamed completion, on a thread, whose client leaves once `leave` is set (its slot is
    then freed): a slot kept busy for as long as a test needs."""

    def generate() -> None:
        body = {"model": model, "prompt": prompt, "max_tokens": 2000, "ignore_eos": True, "stream": True}
        with httpx.stream("POST", f"{inference_url}/v1/completions", json=body, timeout=60) as response:
            for _ in response.iter_lines():
                if leave.is_set():
                    return

    thread = threading.Thread(target=generate)
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
