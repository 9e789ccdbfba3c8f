"""This server as Paddler's management API shows an agent: one agent with this server's slots."""

from __future__ import annotations

from typing import Any

from paddler.engine.engine_state import EngineState
from paddler.web.paddler_services import PaddlerServices


def agent_snapshot(services: PaddlerServices) -> dict[str, Any]:
    engine = services.engine
    stats = engine.stats()
    info = engine.model_info
    ready = engine.state in (EngineState.READY, EngineState.DRAINING)
    issues: list[Any] = list(services.issues)
    failed = {"ModelCannotBeLoaded": {"model_path": str(engine.settings.model_path)}}
    if engine.state is EngineState.FAILED and failed not in issues:
        issues.append(failed)
    return {
        "desired_slots_total": engine.settings.slots,
        **services.download.snapshot(),
        "id": services.agent_id,
        "issues": issues,
        "model_path": None if info is None else info.path,
        "name": services.name,
        "slots_processing": stats.slots_processing,
        "slots_total": engine.settings.slots if ready else 0,
        "state_application_status": services.state_application_status,
        "uses_chat_template_override": services.chat_template_override is not None,
    }
