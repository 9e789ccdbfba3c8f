"""GET /api/v1/slots and its event stream: what each slot is doing (ours; Paddler shows only counts)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint

from paddler.web.management.get_agents import serving
from paddler.web.shared.paddler_services import PaddlerServices, current_services
from paddler.web.shared.server_sent_events import add_snapshot_routes

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


add_snapshot_routes(blueprint, "/api/v1/slots", current_services, _slots, serving)
