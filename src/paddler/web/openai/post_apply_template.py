"""POST /apply-template, as llama-server answers it: the prompt the chat template makes of a chat
completion's messages (and tools), without running it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.web.openai.chat_request import ChatCompletionRequest, chat_conversation
from paddler.web.openai.request import parse_openai_body, render_conversation
from paddler.web.shared.paddler_services import current_services

blueprint = Blueprint("llama_server_apply_template", __name__)


class ApplyTemplateRequest(ChatCompletionRequest):
    # Nothing runs, so no model needs naming.
    model: str = ""


@blueprint.post("/apply-template")
def post_apply_template() -> Response:
    asked = parse_openai_body(ApplyTemplateRequest)
    return jsonify({"prompt": render_conversation(chat_conversation(asked), current_services())})
