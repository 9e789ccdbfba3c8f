"""The options of a served model, shared by `paddler serve` and the gunicorn entry point."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from paddler.default_model import default_model_path, fetch_default_model
from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_settings import (
    KV_CACHE_TYPES,
    POOLING_TYPES,
    EngineSettings,
    KvLayout,
    default_threads,
)
from paddler.engine.injected_fault import INJECTED_FAULTS_VARIABLE, parse_injected_faults
from paddler.messages.sampling_params import SERVER_FIELDS, SamplingParams, sampling_from
from paddler.web.admin_panel.panel_pages import PanelSettings
from paddler.web.management.state_application import restore_state
from paddler.web.management.state_file import load_state
from paddler.web.shared.address import parse_address
from paddler.web.shared.chat_template import ChatTemplateError, check_chat_template
from paddler.web.shared.paddler_services import PaddlerServices
from paddler.web.shared.thread_reserve import DEFAULT_THREADS, Occupancy, websocket_limit

logger = logging.getLogger(__name__)
LOOPBACK_OR_ANY = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::", "[::]", "::1", "[::1]"})


_SAMPLING_HELP = {
    "temperature": "sampling temperature; 0 picks the likeliest token",
    "top_k": "keep the k likeliest tokens; 0 keeps all",
    "top_p": "nucleus sampling mass; 1 disables",
    "min_p": "drop tokens below this share of the top one; 0 disables",
    "penalty_repeat": "repetition penalty; 1 disables",
    "penalty_frequency": "frequency penalty; 0 disables",
    "penalty_presence": "presence penalty; 0 disables",
    "penalty_last_n": "tokens the penalties look back on; -1: the whole context",
}


def add_buffer_options(parser: argparse.ArgumentParser) -> None:
    """Paddler's request buffer: a server's, or a balancer's (HAProxy's queue)."""
    parser.add_argument(
        "--max-buffered-requests",
        type=int,
        default=30,
        help="requests that may wait for a slot; 0 disables waiting (default: 30)",
    )
    parser.add_argument(
        "--buffered-request-timeout",
        type=int,
        default=10000,
        help="milliseconds a request may wait for a slot (default: 10000)",
    )


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="GGUF file to serve (default: SmolLM2-135M-Instruct, fetched once)")
    parser.add_argument(
        "--mmproj",
        type=Path,
        help="multimodal projector GGUF for the model (llama.cpp's mmproj file): requests may then carry images",
    )
    parser.add_argument(
        "--image-resize-to-fit",
        type=int,
        default=1024,
        help="images larger than this many pixels a side are scaled down before encoding (default: 1024)",
    )
    parser.add_argument(
        "--allow-image-urls",
        action="store_true",
        help="let image_url parts name http(s) URLs, fetched by the server (at most 20 MiB, 10 s each); "
        "data: URIs are always read",
    )
    parser.add_argument("--slots", type=int, default=4, help="requests served at once (default: 4)")
    parser.add_argument(
        "--context-size",
        type=int,
        default=8192,
        help="KV cache cells in all: one request may use them all unless --kv-layout is per-slot (default: 8192)",
    )
    parser.add_argument(
        "--kv-layout",
        type=KvLayout,
        choices=list(KvLayout),
        default=KvLayout.ADAPTIVE,
        help="how the slots share the KV cache: 'adaptive' (the default) gives each slot a stream of "
        "context-size/slots cells while every request fits one, as llama-server -np N does (the fastest "
        "under concurrency), and one pool while a request needs more, moving every cache at the switch "
        "(a few hundred ms); 'unified' keeps one pool (Paddler's model: every sequence attends over every "
        "slot's cells, slower under load); 'per-slot' keeps a stream per slot (a request never outgrows "
        "context-size/slots). Models with sliding-window or recurrent memory keep one pool with 'adaptive'",
    )
    parser.add_argument(
        "--prefix-sharing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a new request takes the longest cached prefix of its prompt from any slot, busy ones included, "
        "so a system prompt many requests repeat is prefilled once (the default; attention-only models); "
        "--no-prefix-sharing reuses only the chosen slot's own cache, as llama-server does",
    )
    parser.add_argument("--n-batch", type=int, default=2048, help="tokens per decode step (default: 2048)")
    parser.add_argument("--n-ubatch", type=int, default=512, help="physical micro-batch (default: 512)")
    parser.add_argument(
        "--prefill-budget",
        type=int,
        default=0,
        help="tokens of long prompts (more than n-ubatch to prefill) decoded per step while other requests "
        "generate (chunked prefill), so a long prompt never stalls running streams; 0 sizes it from measured "
        "step times, so that prompt work adds about half a decoding step; short prompts, and any prompt "
        "while nothing generates, go whole (default: 0)",
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: half the cores, at least 2)")
    parser.add_argument("--n-gpu-layers", type=int, default=0, help="layers offloaded to the GPU (-1: all)")
    parser.add_argument("--cache-type-k", default="q8_0", choices=KV_CACHE_TYPES, help="KV cache type of keys")
    parser.add_argument("--cache-type-v", default="q8_0", choices=KV_CACHE_TYPES, help="KV cache type of values")
    parser.add_argument("--enable-embeddings", action="store_true", help="also serve embeddings")
    parser.add_argument("--pooling-type", default="last", choices=POOLING_TYPES, help="embedding pooling")
    parser.add_argument("--inference-addr", default="127.0.0.1:8061", help="inference service host:port")
    parser.add_argument("--management-addr", default="127.0.0.1:8060", help="management service host:port")
    parser.add_argument(
        "--openai-addr",
        "--compat-openai-addr",
        help="also serve the OpenAI API (/v1/…) alone on this host:port; it is always on the inference address too",
    )
    add_admin_panel_option(parser)
    parser.add_argument("--name", help="server name, reported as generated_by and as the agent name")
    parser.add_argument(
        "--chat-template-file",
        type=Path,
        help="Jinja chat template used instead of the model's own (a desired state may replace it later)",
    )
    add_buffer_options(parser)
    parser.add_argument(
        "--max-websockets",
        type=int,
        help="inference WebSockets open at once, each holding a server thread; more are refused with 503 "
        "(default: half the request threads left after those held back for /health and /ready: "
        f"{websocket_limit(DEFAULT_THREADS)} with gunicorn's default {DEFAULT_THREADS} threads)",
    )
    parser.add_argument(
        "--websocket-send-timeout",
        type=float,
        default=10.0,
        help="seconds a WebSocket frame may take to be written before the client is dropped as not "
        "reading (default: 10)",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        help="where the desired state is kept; when it exists, startup applies it (a restart comes back the same)",
    )
    parser.add_argument(
        "--allowed-model-dir",
        type=Path,
        action="append",
        default=[],
        help="folder a desired state may load local models from (repeatable; default: the "
        "served model's folder and the model cache)",
    )
    parser.add_argument(
        "--model-url-hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="host a desired state's URL model may be downloaded from, checked on every redirect "
        "(repeatable; *.example.com allows its subdomains; default: any host)",
    )
    access = parser.add_argument_group("access control (off by default, as in Paddler)")
    access.add_argument(
        "--inference-api-key",
        action="append",
        default=[],
        help="accept this Bearer key on the inference service (repeatable; also "
        "$PADDLER_INFERENCE_API_KEYS, comma-separated, to keep keys off the command line)",
    )
    access.add_argument(
        "--management-api-key",
        action="append",
        default=[],
        help="accept this Bearer key on the management service (repeatable; also $PADDLER_MANAGEMENT_API_KEYS)",
    )
    access.add_argument(
        "--inference-cors-allowed-origin",
        action="append",
        default=[],
        help="browser origin allowed on the inference service, e.g. http://localhost:3000",
    )
    access.add_argument(
        "--management-cors-allowed-origin",
        action="append",
        default=[],
        help="browser origin allowed on the management service",
    )
    access.add_argument(
        "--management-allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="Host name the management service answers to when it has no key, besides localhost, IP "
        "addresses and the name it is bound to (repeatable; other names are refused against DNS rebinding)",
    )
    defaults = SamplingParams()
    sampling = parser.add_argument_group("sampling defaults (Paddler's inference parameters; 0 temperature = greedy)")
    for name in SERVER_FIELDS:
        default = getattr(defaults, name)
        sampling.add_argument(
            "--" + name.replace("_", "-"),
            type=type(default),
            default=default,
            help=f"{_SAMPLING_HELP[name]} (default: {default})",
        )


def serve_settings(arguments: argparse.Namespace) -> EngineSettings:
    """Engine settings from parsed serve options; raises ValueError for inconsistent ones."""
    model_path = Path(arguments.model) if arguments.model else fetch_default_model(show_progress=True)
    return EngineSettings(
        model_path=model_path,
        projector_path=arguments.mmproj,
        image_resize_to_fit=arguments.image_resize_to_fit,
        slots=arguments.slots,
        context_size=arguments.context_size,
        kv_layout=arguments.kv_layout,
        prefix_sharing=arguments.prefix_sharing,
        n_batch=arguments.n_batch,
        n_ubatch=min(arguments.n_ubatch, arguments.n_batch),
        prefill_budget=arguments.prefill_budget,
        threads=arguments.threads or default_threads(),
        n_gpu_layers=arguments.n_gpu_layers,
        k_cache_type=arguments.cache_type_k,
        v_cache_type=arguments.cache_type_v,
        enable_embeddings=arguments.enable_embeddings,
        pooling_type=arguments.pooling_type,
        max_buffered_requests=arguments.max_buffered_requests,
        buffered_request_timeout=arguments.buffered_request_timeout / 1000.0,
        name=arguments.name,
        injected_faults=parse_injected_faults(os.environ.get(INJECTED_FAULTS_VARIABLE, "")),
        sampling=sampling_from(arguments),
    )


def api_keys(given: list[str], variable: str) -> tuple[str, ...]:
    from_environment = [key.strip() for key in os.environ.get(variable, "").split(",") if key.strip()]
    return tuple(dict.fromkeys([*given, *from_environment]))


def _chat_template_override(path: Path | None) -> str | None:
    """The template file's text, checked to compile; raises ValueError with the reason."""
    if path is None:
        return None
    try:
        template = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read chat template {path}: {error}") from None
    try:
        check_chat_template(template)
    except ChatTemplateError as error:
        raise ValueError(f"{path}: {error}") from None
    return template


def admin_panel_origins(address: str | None) -> tuple[str, ...]:
    """The browser origins the admin panel's page has when served on `address`: the name it is bound to,
    and both loopback names when bound to loopback or to every interface. Other names a page is opened
    under (a public host name) are added with the --*-cors-allowed-origin options."""
    if address is None:
        return ()
    host, port = parse_address(address)
    names = {host.strip("[]")}
    if host in LOOPBACK_OR_ANY:
        names |= {"127.0.0.1", "localhost"}
    names.discard("0.0.0.0")
    names.discard("::")
    bracketed = [f"[{name}]" if ":" in name else name for name in sorted(names)]
    return tuple(f"{scheme}://{name}:{port}" for name in bracketed for scheme in ("http", "https"))


def add_admin_panel_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--web-admin-panel-addr",
        help="serve the web admin panel on this host:port (its origin is allowed on the services)",
    )


def admin_panel_settings(arguments: argparse.Namespace, fleet: bool = False) -> PanelSettings | None:
    """`fleet`: for a balancer, which has no OpenAI address of its own (HAProxy's carries /v1/)."""
    if arguments.web_admin_panel_addr is None:
        return None
    return PanelSettings(
        address=arguments.web_admin_panel_addr,
        management=arguments.management_addr,
        inference=arguments.inference_addr,
        openai=None if fleet else arguments.openai_addr,
        max_buffered_requests=arguments.max_buffered_requests,
        buffered_request_timeout_ms=arguments.buffered_request_timeout,
        fleet=fleet,
    )


def build_services(arguments: argparse.Namespace, engine: ContinuousBatchEngine) -> PaddlerServices:
    """The services over an engine (started or not); raises ValueError for an unusable template file or
    connection bound."""
    if arguments.max_websockets is not None and arguments.max_websockets < 1:
        raise ValueError("--max-websockets must be at least 1")
    if not arguments.websocket_send_timeout > 0:
        raise ValueError("--websocket-send-timeout must be greater than 0")
    panel_origins = admin_panel_origins(arguments.web_admin_panel_addr)
    allowed = [*arguments.allowed_model_dir, engine.settings.model_path.parent, default_model_path().parent]
    if engine.settings.projector_path is not None:
        # The state this server reports names its projector: putting it back must be accepted.
        allowed.append(engine.settings.projector_path.parent)
    services = PaddlerServices(
        engine,
        name=arguments.name,
        chat_template_override=_chat_template_override(arguments.chat_template_file),
        state_file=arguments.state_file,
        allowed_model_dirs=tuple(Path(os.path.realpath(directory)) for directory in allowed),
        model_url_hosts=tuple(arguments.model_url_hosts),
        management_host_names=(parse_address(arguments.management_addr)[0], *arguments.management_allowed_host),
        inference_api_keys=api_keys(arguments.inference_api_key, "PADDLER_INFERENCE_API_KEYS"),
        management_api_keys=api_keys(arguments.management_api_key, "PADDLER_MANAGEMENT_API_KEYS"),
        inference_cors_origins=(*arguments.inference_cors_allowed_origin, *panel_origins),
        management_cors_origins=(*arguments.management_cors_allowed_origin, *panel_origins),
        open_websockets=Occupancy(arguments.max_websockets or websocket_limit(DEFAULT_THREADS)),
        websocket_send_timeout=arguments.websocket_send_timeout,
        allow_image_urls=arguments.allow_image_urls,
    )
    return services


def restore_saved_state(services: PaddlerServices) -> None:
    """Apply the state file's desired state, if there is one (the engine must have started). A state
    that cannot be read or applied never stops the start: the command line's model serves, and the log
    and the agent's issues say why."""
    if services.state_file is None:
        return
    try:
        saved = load_state(services.state_file)
    except (OSError, ValueError) as error:
        logger.error(
            "cannot read the saved desired state %s (%s); serving %s from the command line",
            services.state_file,
            error,
            services.engine.settings.model_path,
        )
        services.state_application_status = "Stuck"
        return
    if saved is not None:
        restore_state(services, saved)
