"""What both services share: the engine (replaced when a new desired state is applied), the server's
identity and state, and where Flask keeps them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine, EngineUnavailableError
from paddler.web.download_progress import DownloadProgress
from paddler.web.thread_reserve import DEFAULT_THREADS, Occupancy, websocket_limit
from paddler.web.wire_results import new_request_id

EXTENSION_KEY = "paddler"


@dataclass(slots=True)
class PaddlerServices:
    engine: ContinuousBatchEngine
    # Shown as `generated_by` on every response and as the agent's name in management snapshots.
    name: str | None = None
    # This server appears to Paddler's management clients as one agent with this id.
    agent_id: str = field(default_factory=new_request_id)
    chat_template_override: str | None = None
    # Folders a desired state may load local models from (resolved paths).
    allowed_model_dirs: tuple[Path, ...] = ()
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
    # Cleared while the engine is being replaced; request threads wait on it.
    engine_ready: threading.Event = field(default_factory=threading.Event)
    # Set when the server shuts down: open WebSockets close with 1001.
    shutting_down: threading.Event = field(default_factory=threading.Event)
    # Open inference WebSockets (each holds a server thread) and their bound.
    open_websockets: Occupancy = field(default_factory=lambda: Occupancy(websocket_limit(DEFAULT_THREADS)))
    # Seconds a WebSocket frame may take to be written before its client is dropped as not reading.
    websocket_send_timeout: float = 10.0

    def __post_init__(self) -> None:
        self.engine_ready.set()

    @property
    def chat_template(self) -> str | None:
        if self.chat_template_override is not None:
            return self.chat_template_override
        info = self.engine.model_info
        return None if info is None else info.chat_template

    def serving_engine(self) -> ContinuousBatchEngine:
        """The engine to submit to, waiting (up to the buffer timeout) while a new one is being loaded."""
        if not self.engine_ready.wait(self.engine.settings.buffered_request_timeout):
            raise EngineUnavailableError("the model is being replaced; try again shortly")
        return self.engine


def current_services() -> PaddlerServices:
    services: PaddlerServices = current_app.extensions[EXTENSION_KEY]
    return services
