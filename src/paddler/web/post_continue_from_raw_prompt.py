"""POST /api/v1/continue_from_raw_prompt: tokens for a prompt used as is, as NDJSON."""

from __future__ import annotations

from flask import Blueprint, Response

from paddler.web.api_error import parse_json_body
from paddler.web.paddler_services import current_services
from paddler.web.prepare_generation import generation_response, raw_prompt_generation, require_generation
from paddler.web.wire_params import ContinueFromRawPromptParams

blueprint = Blueprint("continue_from_raw_prompt", __name__)


@blueprint.post("/api/v1/continue_from_raw_prompt")
def post_continue_from_raw_prompt() -> Response:
    services = current_services()
    require_generation(services)
    params = parse_json_body(ContinueFromRawPromptParams)
    return generation_response(services, raw_prompt_generation(params, services))
