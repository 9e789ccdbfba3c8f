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


def worker_exit(server: Any, worker: Any) -> None:
    from paddler import wsgi  # noqa: PLC0415 - imported only inside the worker

    wsgi.shutdown()
