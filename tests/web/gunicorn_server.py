"""A real gunicorn master with the shipped configuration, on loopback ports, for the production-mode tests."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPOSITORY

from .conftest import free_port

GUNICORN = Path(sys.executable).parent / "gunicorn"


@dataclass(frozen=True)
class Gunicorn:
    process: subprocess.Popen[bytes]
    urls: tuple[str, str, str]
    verify: ssl.SSLContext | bool = True

    @property
    def socket_url(self) -> str:
        return self.urls[0].replace("http", "ws", 1) + "/api/v1/inference_socket"


def gunicorn_command(*extra: str) -> list[str]:
    return [str(GUNICORN), "-c", str(REPOSITORY / "gunicorn.conf.py"), *extra, "paddler.wsgi:app"]


def serve_environment(serve_args: str, addresses: tuple[int, int, int], **variables: str) -> dict[str, str]:
    inference, management, compat = addresses
    return {
        **os.environ,
        "PADDLER_SERVE_ARGS": f"{serve_args} --inference-addr 127.0.0.1:{inference} "
        f"--management-addr 127.0.0.1:{management} --compat-openai-addr 127.0.0.1:{compat}",
        **variables,
    }


@contextmanager
def gunicorn(
    serve_args: str,
    *extra: str,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = True,
    ready_within: float = 60,
    log_path: Path | None = None,
    **variables: str,
) -> Iterator[Gunicorn]:
    """gunicorn with the shipped configuration, its three addresses and `serve_args`, logging to
    `log_path` (else a temporary file); on leaving, SIGTERM and a check that the worker exited cleanly."""
    ports = (free_port(), free_port(), free_port())
    environment = serve_environment(serve_args, ports, **{"PADDLER_THREADS": "16", **variables})
    with log_path.open("w+") if log_path is not None else tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            gunicorn_command(*extra), env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=REPOSITORY
        )
        urls = tuple(f"{scheme}://127.0.0.1:{port}" for port in ports)
        served = Gunicorn(process, (urls[0], urls[1], urls[2]), verify)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(urls[0] + "/ready", verify=verify).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        try:
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            log.seek(0)
            output = log.read()
    assert "Worker exiting" in output, output
