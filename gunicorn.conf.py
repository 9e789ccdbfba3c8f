"""Production configuration: `PADDLER_SERVE_ARGS="--slots 8" gunicorn -c gunicorn.conf.py paddler.wsgi:app`.

One worker, one engine: more workers are refused (scale out with more processes behind a load
balancer). Threads serve concurrent streams and WebSockets (each open WebSocket holds a thread); a few
are held back for /health and /ready, and WebSockets may take half of the rest unless
--max-websockets says otherwise. preload_app stays off: the engine thread must start in the worker, not
in the master before fork; models are fetched in the master, before the worker's timeout applies.
"""

from __future__ import annotations

import os
from typing import Any

from paddler.startup.gunicorn_master import check_one_worker, fetch_models, serve_option

SERVE_ARGS = os.environ.get("PADDLER_SERVE_ARGS", "")
bind = [
    address
    for address in (
        serve_option(SERVE_ARGS, "--inference-addr") or "127.0.0.1:8061",
        serve_option(SERVE_ARGS, "--management-addr") or "127.0.0.1:8060",
        serve_option(SERVE_ARGS, "--openai-addr", "--compat-openai-addr"),
        serve_option(SERVE_ARGS, "--web-admin-panel-addr"),
    )
    if address is not None
]
worker_class = "gthread"
workers = int(os.environ.get("PADDLER_WORKERS", "1"))
threads = int(os.environ.get("PADDLER_THREADS", "64"))
preload_app = False
# Loading a large model can take a while (downloads happen before, in the master: see on_starting).
timeout = int(os.environ.get("PADDLER_WORKER_TIMEOUT", "600"))
# Longer than the engine's drain, so running requests may finish on shutdown.
graceful_timeout = 40
keepalive = 5


def on_starting(server: Any) -> None:
    """In the master, before it binds or forks: refuse a second worker (-w, --workers and
    PADDLER_WORKERS all end up in cfg.workers), then fetch the models the worker will load."""
    check_one_worker(server.cfg.workers)
    fetch_models(SERVE_ARGS)


def nworkers_changed(server: Any, new_value: int, old_value: int) -> None:
    """SIGTTIN would add a worker at run time: stay at one."""
    if new_value > 1:
        server.log.error("paddler serves one engine per process; staying at one worker")
        server.num_workers = 1


def post_worker_init(worker: Any) -> None:
    """Size the threads held back for the probes and the WebSocket bound to this worker's threads. On
    SIGTERM, drain the engine and close open WebSockets with 1001 while gunicorn waits for its requests;
    without this a socket would hold the worker until the graceful timeout."""
    import signal  # noqa: PLC0415 - only the worker needs these
    import threading  # noqa: PLC0415

    from paddler import wsgi  # noqa: PLC0415

    wsgi.fit_to_threads(worker.cfg.threads)
    stop_worker = signal.getsignal(signal.SIGTERM)

    def drain_and_stop(signal_number: int, frame: Any) -> None:
        threading.Thread(target=wsgi.shutdown, name="paddler-drain", daemon=True).start()
        if callable(stop_worker):
            stop_worker(signal_number, frame)

    signal.signal(signal.SIGTERM, drain_and_stop)


def worker_exit(server: Any, worker: Any) -> None:
    from paddler import wsgi  # noqa: PLC0415 - imported only inside the worker

    wsgi.shutdown()
