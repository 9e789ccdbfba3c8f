"""GET /props, as llama-server answers it: the served model, its chat template and special tokens, the
slots, the sampling defaults and what the model reads (text only here)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify

from paddler.web.openai.request import served_model_id
from paddler.web.shared.paddler_services import current_services

blueprint = Blueprint("llama_server_props", __name__)


@blueprint.get("/props")
def get_props() -> Response:
    services = current_services()
    engine = services.engine
    settings = engine.settings
    info = engine.model_info
    generation: dict[str, Any] = {
        "n_ctx": engine.max_sequence_tokens,
        "params": asdict(settings.sampling),
    }
    return jsonify(
        {
            "model_alias": served_model_id(services),
            "model_path": str(settings.model_path),
            "total_slots": settings.slots,
            "default_generation_settings": generation,
            "chat_template": services.chat_template,
            "bos_token": None if info is None else info.bos_text,
            "eos_token": None if info is None else info.eos_text,
            "modalities": {"vision": info is not None and info.supports_images, "audio": False},
            "state": engine.state.value,
        }
    )
