"""POST /apply-template, as llama-server answers it: the prompt the chat template makes of a chat
completion's messages (and tools), without running it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from paddler.messages.prompt_image import IMAGE_MARKER
from paddler.web.openai.chat_request import ChatCompletionRequest, chat_conversation
from paddler.web.openai.request import parse_openai_body, render_conversation
from paddler.web.shared.paddler_services import current_services

LLAMA_CPP_MEDIA_MARKER = "<__media__>"
blueprint = Blueprint("llama_server_apply_template", __name__)


class ApplyTemplateRequest(ChatCompletionRequest):
    # Nothing runs, so no model needs naming.
    model: str = ""


@blueprint.post("/apply-template")
def post_apply_template() -> Response:
    asked = parse_openai_body(ApplyTemplateRequest)
    services = current_services()
    prompt = render_conversation(chat_conversation(asked, services.image_collector()), services)
    # Each image shows as llama-server shows it: llama.cpp's media marker.
    return jsonify({"prompt": prompt.replace(IMAGE_MARKER, LLAMA_CPP_MEDIA_MARKER)})
