"""POST /api/v1/continue_from_conversation_history: tokens for a chat rendered with the model's
template, as NDJSON."""

from __future__ import annotations

from flask import Blueprint, Response

from paddler.web.inference.prepare_generation import (
    generation_response,
    history_generation,
    require_generation,
    tool_schema_problem,
)
from paddler.web.inference.wire_params import ContinueFromConversationHistoryParams
from paddler.web.shared.api_error import ApiError, parse_json_body
from paddler.web.shared.paddler_services import current_services

blueprint = Blueprint("continue_from_conversation_history", __name__)


@blueprint.post("/api/v1/continue_from_conversation_history")
def post_continue_from_conversation_history() -> Response:
    services = current_services()
    require_generation(services)
    params = parse_json_body(ContinueFromConversationHistoryParams)
    problem = tool_schema_problem(params.tools)
    if problem is not None:
        raise ApiError(400, problem)
    return generation_response(services, history_generation(params, services))
