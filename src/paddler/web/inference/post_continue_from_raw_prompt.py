"""POST /api/v1/continue_from_raw_prompt: tokens for a prompt used as is, as NDJSON."""

from __future__ import annotations

from flask import Blueprint, Response

from paddler.web.inference.prepare_generation import generation_response, raw_prompt_generation, require_generation
from paddler.web.inference.wire_params import ContinueFromRawPromptParams
from paddler.web.shared.api_error import parse_json_body
from paddler.web.shared.paddler_services import current_services

blueprint = Blueprint("continue_from_raw_prompt", __name__)


@blueprint.post("/api/v1/continue_from_raw_prompt")
def post_continue_from_raw_prompt() -> Response:
    services = current_services()
    require_generation(services)
    params = parse_json_body(ContinueFromRawPromptParams)
    return generation_response(services, raw_prompt_generation(params, services))
