"""GET /api/v1/slots and its event stream: what each slot is doing (ours; Paddler shows only counts)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify

from paddler.web.management.get_agents import serving
from paddler.web.shared.paddler_services import PaddlerServices, current_services
from paddler.web.shared.server_sent_events import sse_response

blueprint = Blueprint("slots", __name__)


def _slots(services: PaddlerServices) -> dict[str, Any]:
    engine = services.engine
    slots = [asdict(activity) for activity in engine.slot_activity()]
    generating = sum(slot["phase"] != "idle" for slot in slots)
    return {
        "slots": slots,
        # Embedding batches hold slots of their own context, counted in slots_processing.
        "embedding_batches": max(0, engine.stats().slots_processing - generating),
    }


@blueprint.get("/api/v1/slots")
def get_slots() -> Response:
    return jsonify(_slots(current_services()))


@blueprint.get("/api/v1/slots/stream")
def get_slots_stream() -> Response:
    services = current_services()
    return sse_response(lambda: _slots(services), lambda: serving(services))
