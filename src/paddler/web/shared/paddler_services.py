"""What both services share: the engine (replaced when a new desired state is applied), the server's
identity and state, and where Flask keeps them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.result_stream import ResultStream
from paddler.messages.embedding_result import EmbeddingResult
from paddler.messages.generate_embedding_batch_params import GenerateEmbeddingBatchParams
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedTokenResult
from paddler.web.shared.api_error import ApiError
from paddler.web.shared.download_progress import DownloadProgress
from paddler.web.shared.image_input import ImageCollector, ImagePolicy
from paddler.web.shared.request_id import new_request_id
from paddler.web.shared.resubmitting_stream import ResubmittingStream
from paddler.web.shared.state_applier import StateApplier
from paddler.web.shared.thread_reserve import DEFAULT_THREADS, Occupancy, websocket_limit

EXTENSION_KEY = "paddler"
# What a conversation gets when neither the model nor the desired state has a chat template.
NO_CHAT_TEMPLATE = (
    "the model has no chat template (its GGUF lacks tokenizer.chat_template): raw prompts and embeddings "
    "work; for conversations give one with --chat-template-file or a desired state's chat_template_override"
)


@dataclass(slots=True)
class PaddlerServices:
    engine: ContinuousBatchEngine
    # The command line's engine settings: what a desired state changes is applied over these, and the
    # model the server falls back to when no other loads. Defaults to the first engine's settings.
    base_settings: EngineSettings | None = None
    # Shown as `generated_by` on every response and as the agent's name in management snapshots.
    name: str | None = None
    # This server appears to Paddler's management clients as one agent with this id.
    agent_id: str = field(default_factory=new_request_id)
    chat_template_override: str | None = None
    # Folders a desired state may load local models from (resolved paths).
    allowed_model_dirs: tuple[Path, ...] = ()
    # Hosts a URL model (and each of its redirects) may come from; empty: any host.
    model_url_hosts: tuple[str, ...] = ()
    # Host names the management service answers to without a key, besides loopback names and IP
    # addresses (a browser sends any other name only when DNS rebinding points it here).
    management_host_names: tuple[str, ...] = ()
    state_file: Path | None = None
    # The last desired state PUT (a BalancerDesiredState); None until then.
    desired_state: Any = None
    state_application_status: str = "Applied"
    issues: list[dict[str, Any]] = field(default_factory=list)
    inference_api_keys: tuple[str, ...] = ()
    management_api_keys: tuple[str, ...] = ()
    inference_cors_origins: tuple[str, ...] = ()
    management_cors_origins: tuple[str, ...] = ()
    download: DownloadProgress = field(default_factory=DownloadProgress)
    state_applier: StateApplier = field(default_factory=StateApplier)
    # Cleared while the engine is being replaced; request threads wait on it.
    engine_ready: threading.Event = field(default_factory=threading.Event)
    # Set when the server shuts down: open WebSockets close with 1001.
    shutting_down: threading.Event = field(default_factory=threading.Event)
    # Set once an agent leaving its fleet has been drained by its balancers and its engine takes nothing
    # new: inference requests that still arrive are sent back to HAProxy (425) for another agent.
    leaving_fleet: threading.Event = field(default_factory=threading.Event)
    # Open inference WebSockets (each holds a server thread) and their bound.
    open_websockets: Occupancy = field(default_factory=lambda: Occupancy(websocket_limit(DEFAULT_THREADS)))
    # Seconds a WebSocket frame may take to be written before its client is dropped as not reading.
    websocket_send_timeout: float = 10.0
    # Whether image_url parts may name http(s) URLs (fetched bounded in bytes and time); data: URIs always.
    allow_image_urls: bool = False

    def __post_init__(self) -> None:
        self.engine_ready.set()
        if self.base_settings is None and self.engine is not None:
            self.base_settings = self.engine.settings

    @property
    def command_line_settings(self) -> EngineSettings:
        return self.base_settings or self.engine.settings

    @property
    def chat_template(self) -> str | None:
        if self.chat_template_override is not None:
            return self.chat_template_override
        info = self.engine.model_info
        return None if info is None else info.chat_template

    def image_collector(self) -> ImageCollector | None:
        """A collector for one request's images; None when the model reads no images."""
        info = self.engine.model_info
        if info is None or not info.supports_images:
            return None
        return ImageCollector(ImagePolicy(self.engine.settings.image_resize_to_fit, self.allow_image_urls))

    def _deadline(self) -> float:
        return time.monotonic() + self.engine.settings.buffered_request_timeout

    def serving_engine(self) -> ContinuousBatchEngine:
        """The engine to read model facts from, waiting (up to the buffer timeout) while a new one is being
        loaded; ApiError 503 when none is ready by then."""
        if not self.engine_ready.wait(self.engine.settings.buffered_request_timeout):
            raise ApiError(503, "the model is being replaced; try again shortly")
        return self.engine

    def submit_generation(self, params: GenerateTokensParams) -> ResubmittingStream[GeneratedTokenResult]:
        """Submit to the serving engine, following it across a swap (see ResubmittingStream); raises
        what ContinuousBatchEngine.submit_generation raises."""

        def generate_on(engine: ContinuousBatchEngine) -> ResultStream[GeneratedTokenResult]:
            return engine.submit_generation(params)

        return ResubmittingStream(self, generate_on, self._deadline())

    def submit_embeddings(self, params: GenerateEmbeddingBatchParams) -> ResubmittingStream[EmbeddingResult]:
        def embed_on(engine: ContinuousBatchEngine) -> ResultStream[EmbeddingResult]:
            return engine.submit_embeddings(params)

        return ResubmittingStream(self, embed_on, self._deadline())


def current_services() -> PaddlerServices:
    services: PaddlerServices = current_app.extensions[EXTENSION_KEY]
    return services
