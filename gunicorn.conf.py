"""Production configuration: `PADDLER_SERVE_ARGS="--slots 8" gunicorn -c gunicorn.conf.py paddler.wsgi:app`.

One worker holds one copy of the model (more workers = more copies, each its own engine); threads serve
concurrent streams and WebSockets (each open WebSocket holds a thread), so size them above slots plus
the buffer plus the sockets you expect. preload_app stays off: the engine thread must start in the
worker, not in the master before fork.
"""

from __future__ import annotations

import os
import shlex
from typing import Any


def _address(flags: tuple[str, ...], default: str | None) -> str | None:
    arguments = shlex.split(os.environ.get("PADDLER_SERVE_ARGS", ""))
    for index, argument in enumerate(arguments):
        for flag in flags:
            if argument == flag and index + 1 < len(arguments):
                return arguments[index + 1]
            if argument.startswith(flag + "="):
                return argument.split("=", 1)[1]
    return default


bind = [
    address
    for address in (
        _address(("--inference-addr",), "127.0.0.1:8061"),
        _address(("--management-addr",), "127.0.0.1:8060"),
        _address(("--openai-addr", "--compat-openai-addr"), None),
    )
    if address is not None
]
worker_class = "gthread"
workers = int(os.environ.get("PADDLER_WORKERS", "1"))
threads = int(os.environ.get("PADDLER_THREADS", "64"))
preload_app = False
# Loading a large model can take a while; streams may stay silent while buffered.
timeout = int(os.environ.get("PADDLER_WORKER_TIMEOUT", "600"))
# Longer than the engine's drain, so running requests may finish on shutdown.
graceful_timeout = 40
keepalive = 5


def post_worker_init(worker: Any) -> None:
    """On SIGTERM, drain the engine and close open WebSockets with 1001 while gunicorn waits for its
    requests; without this a socket would hold the worker until the graceful timeout."""
    import signal  # noqa: PLC0415 - only the worker needs these
    import threading  # noqa: PLC0415

    from paddler import wsgi  # noqa: PLC0415

    stop_worker = signal.getsignal(signal.SIGTERM)

    def drain_and_stop(signal_number: int, frame: Any) -> None:
        threading.Thread(target=wsgi.shutdown, name="paddler-drain", daemon=True).start()
        if callable(stop_worker):
            stop_worker(signal_number, frame)

    signal.signal(signal.SIGTERM, drain_and_stop)


def worker_exit(server: Any, worker: Any) -> None:
    from paddler import wsgi  # noqa: PLC0415 - imported only inside the worker

    wsgi.shutdown()
