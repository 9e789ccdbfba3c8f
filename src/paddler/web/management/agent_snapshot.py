"""This server as Paddler's management API shows an agent: one agent with this server's slots."""

from __future__ import annotations

import time
from typing import Any

from paddler.engine.engine_state import EngineState
from paddler.web.shared.paddler_services import PaddlerServices

# How long an agent reports a fault it recovered from.
FAULT_SHOWN_SECONDS = 60.0


def _fault_text(failure: str | None, fault: str) -> str:
    if failure is not None:
        return failure
    return f"the engine faulted and restarted by itself; the requests it was running ended with an error: {fault}"


def agent_snapshot(services: PaddlerServices) -> dict[str, Any]:
    engine = services.engine
    stats = engine.stats()
    info = engine.model_info
    ready = engine.state in (EngineState.READY, EngineState.DRAINING)
    issues: list[Any] = list(services.issues)
    fault = engine.last_fault
    failed = {"ModelCannotBeLoaded": {"model_path": str(engine.settings.model_path)}}
    projector = engine.settings.projector_path
    if projector is not None and "multimodal projector" in (engine.failure or ""):
        failed = {"MultimodalProjectionCannotBeLoaded": {"model_path": str(projector)}}
    down = engine.state in (EngineState.RECOVERING, EngineState.FAILED)
    if fault is not None and (down or time.monotonic() - fault[1] < FAULT_SHOWN_SECONDS):
        # Paddler has no issue for an engine fault; its nearest, so Paddler's clients can read it.
        issues.append({"SlotCannotStart": {"error": _fault_text(engine.failure, fault[0]), "slot_index": 0}})
    elif engine.state is EngineState.FAILED and failed not in issues:
        issues.append(failed)
    if ready and info is not None and services.chat_template is None and not engine.settings.enable_embeddings:
        # As Paddler reports it; we still serve raw prompts (Paddler's agent does not).
        issues.append({"UnableToFindChatTemplate": {"model_path": info.path}})
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
