"""`paddler balancer`: HAProxy for the inference traffic of a fleet of agents, and the fleet's
management service (Paddler's management API, and the agents' reports), until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import replace
from functools import partial
from pathlib import Path

from werkzeug.serving import BaseWSGIServer

from paddler.startup.dev_server import wait_for_signal
from paddler.startup.haproxy_config import AFFINITY_MODES, RETRIED_BODY_BYTES, SESSION_HEADER, HaproxySettings
from paddler.startup.haproxy_process import HaproxyError, HaproxyProcess
from paddler.startup.serve_options import (
    add_admin_panel_option,
    add_buffer_options,
    admin_panel_origins,
    admin_panel_settings,
    api_keys,
)
from paddler.startup.wsgi_server import make_wsgi_server
from paddler.web.balancer.fleet import Fleet
from paddler.web.balancer.fleet_services import FleetServices
from paddler.web.balancer.haproxy_runtime import HaproxyRuntime
from paddler.web.balancer.rollout import catch_up
from paddler.web.balancer.waiting_room import WaitingRoom
from paddler.web.create_app import create_admin_panel_app, create_balancer_app
from paddler.web.management.state_file import load_state, save_state
from paddler.web.shared.address import parse_address
from paddler.web.shared.metrics_history import start_metrics_history

logger = logging.getLogger(__name__)


def add_balancer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inference-addr", default="127.0.0.1:8061", help="host:port HAProxy takes inference traffic on"
    )
    parser.add_argument(
        "--management-addr", default="127.0.0.1:8060", help="host:port of the management service (agents report here)"
    )
    add_buffer_options(parser)
    parser.add_argument(
        "--affinity",
        choices=AFFINITY_MODES,
        default="off",
        help=f"send a conversation's follow-ups to the agent holding its prefix cache: `session` by the "
        f"{SESSION_HEADER} header, `conversation` by that header or else the conversation's first messages; "
        "`off` (default): the least busy agent",
    )
    add_admin_panel_option(parser)
    parser.add_argument(
        "--state-file",
        type=Path,
        help="where the fleet's desired state is kept; when it exists, the balancer starts with it and brings "
        "every agent that joins to it (default: kept in memory only)",
    )
    parser.add_argument(
        "--management-api-key",
        action="append",
        default=[],
        help="accept this Bearer key on the management service (repeatable; also $PADDLER_MANAGEMENT_API_KEYS); "
        "agents present it with --balancer-api-key",
    )
    parser.add_argument(
        "--agent-management-api-key",
        help="the Bearer key the balancer presents to the agents' management APIs, when they have one "
        "(also $PADDLER_AGENT_MANAGEMENT_API_KEY)",
    )
    parser.add_argument(
        "--management-cors-allowed-origin",
        action="append",
        default=[],
        help="browser origin allowed on the management service",
    )
    parser.add_argument(
        "--management-allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="Host name the management service answers to without a key, besides loopback names and IP addresses",
    )


def _fleet_services(arguments: argparse.Namespace, runtime: HaproxyRuntime) -> FleetServices:
    services = FleetServices(
        Fleet(runtime),
        runtime,
        max_buffered_requests=arguments.max_buffered_requests,
        buffered_request_timeout_ms=arguments.buffered_request_timeout,
        management_api_keys=api_keys(arguments.management_api_key, "PADDLER_MANAGEMENT_API_KEYS"),
        management_cors_origins=(
            *arguments.management_cors_allowed_origin,
            *admin_panel_origins(arguments.web_admin_panel_addr),
        ),
        management_host_names=(parse_address(arguments.management_addr)[0], *arguments.management_allowed_host),
        agent_management_key=arguments.agent_management_api_key
        or os.environ.get("PADDLER_AGENT_MANAGEMENT_API_KEY")
        or None,
    )
    if arguments.state_file is not None:
        services.keep_state = partial(save_state, arguments.state_file)
        # An unreadable file stops the start: serving another state than the one kept would be a surprise.
        services.fleet.desired_state = load_state(arguments.state_file)
    services.fleet.on_join = partial(catch_up, services)
    return services


def _waiting_room(services: FleetServices) -> BaseWSGIServer:
    """The waiting room's server on a free loopback port (HAProxy's backup server: requests wait there
    while no agent is up)."""
    room = WaitingRoom(
        services.runtime,
        services.max_buffered_requests,
        services.buffered_request_timeout_ms,
        services.stopped,
        largest_body=RETRIED_BODY_BYTES,
    )
    return make_wsgi_server("127.0.0.1", 0, room)


def run_balancer(arguments: argparse.Namespace) -> int:
    if arguments.max_buffered_requests < 0 or arguments.buffered_request_timeout < 0:
        print("paddler balancer: buffer size and timeout must not be negative", file=sys.stderr)
        return 2
    host, port = parse_address(arguments.inference_addr)
    directory = Path(tempfile.mkdtemp(prefix="paddler-haproxy-"))
    settings = HaproxySettings(
        host, port, arguments.max_buffered_requests, arguments.buffered_request_timeout, directory, arguments.affinity
    )
    runtime = HaproxyRuntime(settings.admin_socket)
    try:
        services = _fleet_services(arguments, runtime)
    except (OSError, ValueError) as error:
        print(f"paddler balancer: cannot read the state file {arguments.state_file}: {error}", file=sys.stderr)
        shutil.rmtree(directory, ignore_errors=True)
        return 1
    waiting_room = _waiting_room(services)
    try:
        haproxy = HaproxyProcess(
            replace(settings, waiting_room_port=waiting_room.server_port), on_restart=services.fleet.haproxy_restarted
        )
        haproxy.start()
    except HaproxyError as error:
        print(f"paddler balancer: {error}", file=sys.stderr)
        waiting_room.server_close()
        shutil.rmtree(directory, ignore_errors=True)
        return 1
    management = create_balancer_app(services)
    apps = [(arguments.management_addr, management)]
    panel = admin_panel_settings(arguments, fleet=True)
    if panel is not None:
        apps.append((panel.address, create_admin_panel_app(panel)))
    servers = [waiting_room, *(make_wsgi_server(*parse_address(address), app) for address, app in apps)]
    for server in servers:
        threading.Thread(target=server.serve_forever, name="paddler-balancer", daemon=True).start()
    threading.Thread(target=services.fleet.keep_reaping, args=(services.stopped,), daemon=True).start()
    start_metrics_history(management)
    logger.info(
        "balancer: inference through haproxy on http://%s, management on http://%s%s",
        arguments.inference_addr,
        arguments.management_addr,
        "" if panel is None else f", admin panel on http://{panel.address}",
    )
    try:
        wait_for_signal()
    finally:
        services.stopped.set()
        for server in servers:
            server.shutdown()
        haproxy.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return 0
