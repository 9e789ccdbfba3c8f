"""POST /api/v1/continue_from_conversation_history: tokens for a chat rendered with the model's
template, as NDJSON."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Response

from paddler.messages.generated_token_result import GenerationFailed
from paddler.web.api_error import ApiError, parse_json_body
from paddler.web.ndjson_stream import ndjson_response, single_line_response
from paddler.web.paddler_services import current_services
from paddler.web.prepare_generation import GENERATION_DISABLED, conversation_generation, submit_generation
from paddler.web.wire_params import ContinueFromConversationHistoryParams, undefined_required_tool_field
from paddler.web.wire_results import new_request_id, token_result_line

blueprint = Blueprint("continue_from_conversation_history", __name__)


@blueprint.post("/api/v1/continue_from_conversation_history")
def post_continue_from_conversation_history() -> Response:
    services = current_services()
    if not services.engine.settings.enable_generation:
        raise ApiError(501, GENERATION_DISABLED)
    params = parse_json_body(ContinueFromConversationHistoryParams)
    missing = undefined_required_tool_field(params.tools)
    if missing is not None:
        raise ApiError(400, f"Invalid request parameters: Required field '{missing}' not found in properties")
    request_id = new_request_id()
    line = partial(token_result_line, request_id, services.name)
    generation = conversation_generation(params, services)
    if isinstance(generation, GenerationFailed):
        return single_line_response(line(generation))
    return ndjson_response(submit_generation(services, generation, request_id), line)
