"""GET /api/v1/agent/<id>/model_metadata and /chat_template_override for this server's one agent."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.web.shared.api_error import ApiError
from paddler.web.shared.paddler_services import PaddlerServices, current_services

blueprint = Blueprint("agent_details", __name__)


def _known(agent_id: str) -> PaddlerServices:
    services = current_services()
    if agent_id != services.agent_id:
        raise ApiError(404, f"Agent {agent_id} not found")
    return services


SUPPORTS_IMAGES_KEY = "paddler.supports_images"


@blueprint.get("/api/v1/agent/<agent_id>/model_metadata")
def get_model_metadata(agent_id: str) -> Response:
    info = _known(agent_id).engine.model_info
    if info is None:
        return jsonify(None)
    # Whether the agent reads images rides along as one more metadata entry, so Paddler's shape holds.
    return jsonify({"metadata": {**info.metadata, SUPPORTS_IMAGES_KEY: str(info.supports_images).lower()}})


@blueprint.get("/api/v1/agent/<agent_id>/chat_template_override")
def get_chat_template_override(agent_id: str) -> Response:
    override = _known(agent_id).chat_template_override
    return jsonify(None if override is None else {"content": override})
