"""POST /api/v1/continue_from_raw_prompt: tokens for a prompt used as is, as NDJSON."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Response

from paddler.messages.generated_token_result import GenerationFailed
from paddler.web.api_error import ApiError, parse_json_body
from paddler.web.ndjson_stream import ndjson_response, single_line_response
from paddler.web.paddler_services import current_services
from paddler.web.prepare_generation import GENERATION_DISABLED, raw_prompt_generation, submit_generation
from paddler.web.wire_params import ContinueFromRawPromptParams
from paddler.web.wire_results import new_request_id, token_result_line

blueprint = Blueprint("continue_from_raw_prompt", __name__)


@blueprint.post("/api/v1/continue_from_raw_prompt")
def post_continue_from_raw_prompt() -> Response:
    services = current_services()
    if not services.engine.settings.enable_generation:
        raise ApiError(501, GENERATION_DISABLED)
    params = parse_json_body(ContinueFromRawPromptParams)
    request_id = new_request_id()
    line = partial(token_result_line, request_id, services.name)
    generation = raw_prompt_generation(params, services)
    if isinstance(generation, GenerationFailed):
        return single_line_response(line(generation))
    return ndjson_response(submit_generation(services, generation, request_id), line)
