"""What both services share: the engine, the server's identity, and where Flask keeps them."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
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

    @property
    def chat_template(self) -> str | None:
        if self.chat_template_override is not None:
            return self.chat_template_override
        info = self.engine.model_info
        return None if info is None else info.chat_template


def current_services() -> PaddlerServices:
    services: PaddlerServices = current_app.extensions[EXTENSION_KEY]
    return services
