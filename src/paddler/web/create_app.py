"""The two Flask applications: the inference service and the management service, sharing one engine."""

from __future__ import annotations

from flask import Flask

from paddler.web import (
    balancer_desired_state,
    get_agent_details,
    get_agents,
    get_buffered_requests,
    get_health,
    get_metrics,
    get_v1_models,
    post_continue_from_conversation_history,
    post_continue_from_raw_prompt,
    post_generate_embedding_batch,
    post_v1_chat_completions,
    post_v1_completions,
    post_v1_embeddings,
    post_v1_responses,
    ws_inference_socket,
)
from paddler.web.access_control import install_access_control
from paddler.web.api_error import MAX_BODY_BYTES, register_error_handlers
from paddler.web.compact_json_provider import CompactJsonProvider
from paddler.web.paddler_services import EXTENSION_KEY, PaddlerServices


def _base_app(name: str, services: PaddlerServices) -> Flask:
    app = Flask(name)
    app.json = CompactJsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions[EXTENSION_KEY] = services
    register_error_handlers(app)
    app.register_blueprint(get_health.blueprint)
    return app


OPENAI_ROUTES = (get_v1_models, post_v1_chat_completions, post_v1_completions, post_v1_embeddings, post_v1_responses)


def _inference_access(app: Flask, services: PaddlerServices) -> None:
    install_access_control(
        app,
        api_keys=services.inference_api_keys,
        other_service_keys=services.management_api_keys,
        cors_origins=services.inference_cors_origins,
    )


def create_inference_app(services: PaddlerServices) -> Flask:
    """Paddler's inference API and the OpenAI API."""
    app = _base_app("paddler.inference", services)
    _inference_access(app, services)
    app.config["SOCK_SERVER_OPTIONS"] = ws_inference_socket.SOCKET_OPTIONS
    for module in (
        post_continue_from_raw_prompt,
        post_continue_from_conversation_history,
        post_generate_embedding_batch,
        *OPENAI_ROUTES,
        ws_inference_socket,
    ):
        app.register_blueprint(module.blueprint)
    ws_inference_socket.sock.init_app(app)
    return app


def create_openai_app(services: PaddlerServices) -> Flask:
    """The OpenAI API alone, for its own address (Paddler's --compat-openai-addr); the inference
    service's keys and CORS origins apply."""
    app = _base_app("paddler.openai", services)
    _inference_access(app, services)
    for module in OPENAI_ROUTES:
        app.register_blueprint(module.blueprint)
    return app


def create_management_app(services: PaddlerServices) -> Flask:
    app = _base_app("paddler.management", services)
    install_access_control(
        app,
        api_keys=services.management_api_keys,
        other_service_keys=services.inference_api_keys,
        cors_origins=services.management_cors_origins,
        host_names=services.management_host_names,
    )
    for module in (get_agents, get_buffered_requests, get_agent_details, get_metrics, balancer_desired_state):
        app.register_blueprint(module.blueprint)
    return app
