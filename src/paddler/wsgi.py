"""gunicorn entry point: `gunicorn -c gunicorn.conf.py paddler.wsgi:app`.

The engine starts here, in the worker, when gunicorn imports this module (the shipped config keeps
preload_app off: a thread started before fork would be dead in the worker). Serve options come from
$PADDLER_SERVE_ARGS, written as for `paddler serve`; gunicorn.conf.py binds the two addresses they name,
and tells this module the worker's thread count once it is known (fit_to_threads).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.startup.port_dispatcher import PortDispatcher
from paddler.startup.serve_options import (
    add_serve_options,
    admin_panel_settings,
    build_services,
    restore_saved_state,
    serve_settings,
)
from paddler.web.create_app import (
    busy_body,
    create_admin_panel_app,
    create_inference_app,
    create_management_app,
    create_openai_app,
)
from paddler.web.shared.address import parse_address
from paddler.web.shared.metrics_history import start_metrics_history
from paddler.web.shared.paddler_services import PaddlerServices
from paddler.web.shared.thread_reserve import ThreadReserve, WsgiApp, websocket_limit

logger = logging.getLogger(__name__)
DRAIN_SECONDS = 30.0


def serve_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="PADDLER_SERVE_ARGS")
    add_serve_options(parser)
    return parser.parse_args(shlex.split(os.environ.get("PADDLER_SERVE_ARGS", "")))


def _build(arguments: argparse.Namespace) -> tuple[ThreadReserve, PaddlerServices]:
    engine = ContinuousBatchEngine(serve_settings(arguments))
    engine.start()
    services = build_services(arguments, engine)
    restore_saved_state(services)
    inference = create_inference_app(services)
    _, management_port = parse_address(arguments.management_addr)
    management = create_management_app(services)
    start_metrics_history(management)
    apps_by_port: dict[int, WsgiApp] = {management_port: management}
    if arguments.openai_addr:
        apps_by_port[parse_address(arguments.openai_addr)[1]] = create_openai_app(services)
    panel = admin_panel_settings(arguments)
    if panel is not None:
        apps_by_port[parse_address(panel.address)[1]] = create_admin_panel_app(panel)
    logger.info("engine ready; management on port %d, inference on the other bound address", management_port)
    return ThreadReserve(PortDispatcher(inference, apps_by_port), busy_body), services


_arguments = serve_arguments()
app, services = _build(_arguments)


def fit_to_threads(threads: int) -> None:
    """Size the bounds to the worker's request threads; called from gunicorn's post_worker_init hook."""
    app.fit_to(threads)
    if _arguments.max_websockets is None:
        services.open_websockets.limit = websocket_limit(threads)


def shutdown() -> None:
    """Drain and free the model; called from gunicorn's worker_exit hook."""
    services.engine.stop(timeout=DRAIN_SECONDS)
    services.shutting_down.set()
