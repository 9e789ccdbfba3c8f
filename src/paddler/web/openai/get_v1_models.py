"""GET /v1/models and GET /v1/models/<id>: the one model this server serves, in OpenAI's shape, with
llama-server's `meta` (parameters, trained context, width, size) once it has loaded."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from paddler.web.openai.request import check_model, served_model_id
from paddler.web.shared.paddler_services import PaddlerServices, current_services

blueprint = Blueprint("openai_models", __name__)


def _model(services: PaddlerServices) -> dict[str, Any]:
    info = services.engine.model_info
    meta = (
        None
        if info is None
        else {
            "n_params": info.n_params,
            "n_ctx_train": info.n_ctx_train,
            "n_embd": info.n_embd,
            "size": info.size_bytes,
        }
    )
    return {"id": served_model_id(services), "object": "model", "created": 0, "owned_by": "paddler", "meta": meta}


@blueprint.get("/v1/models")
def get_models() -> Response:
    return jsonify({"object": "list", "data": [_model(current_services())]})


@blueprint.get("/v1/models/<path:model_id>")
def get_model(model_id: str) -> Response:
    services = current_services()
    check_model(model_id, services)
    return jsonify(_model(services))
