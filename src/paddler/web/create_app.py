"""The Flask applications, each built from its rooms: the inference service (Paddler's inference API and
the OpenAI API), the OpenAI API alone, and the management service, all sharing one PaddlerServices; and
the web admin panel, which only serves the pages that call them."""

from __future__ import annotations

import json

from flask import Flask, Response, request

from paddler.web.admin_panel.panel_pages import PanelSettings, panel_blueprint
from paddler.web.balancer import (
    agent_registration,
    fleet_desired_state,
    get_fleet,
    get_fleet_agent_details,
    get_fleet_metrics,
    get_fleet_metrics_history,
    get_fleet_slots,
)
from paddler.web.balancer.fleet_services import EXTENSION_KEY as FLEET_EXTENSION_KEY
from paddler.web.balancer.fleet_services import FleetServices
from paddler.web.inference import (
    post_continue_from_conversation_history,
    post_continue_from_raw_prompt,
    post_generate_embedding_batch,
    ws_inference_socket,
)
from paddler.web.management import (
    balancer_desired_state,
    get_agent_details,
    get_agents,
    get_buffered_requests,
    get_metrics,
    get_metrics_history,
    get_slots,
)
from paddler.web.openai import (
    get_props,
    get_v1_models,
    post_apply_template,
    post_tokenize,
    post_v1_chat_completions,
    post_v1_completions,
    post_v1_embeddings,
    post_v1_rerank,
    post_v1_responses,
)
from paddler.web.openai.error import OpenAIError, is_openai_path
from paddler.web.shared import get_health
from paddler.web.shared.access_control import install_access_control
from paddler.web.shared.api_error import (
    MAX_BODY_BYTES,
    MAX_IMAGE_BODY_BYTES,
    ErrorShape,
    plain_text_error,
    register_error_handlers,
)
from paddler.web.shared.compact_json_provider import CompactJsonProvider
from paddler.web.shared.paddler_services import EXTENSION_KEY, PaddlerServices
from paddler.web.shared.retry_elsewhere import retry_elsewhere_while_leaving
from paddler.web.shared.thread_reserve import BUSY, plain_text_busy

OPENAI_ROUTES = (
    get_v1_models,
    post_v1_chat_completions,
    post_v1_completions,
    post_v1_embeddings,
    post_v1_responses,
    # llama-server's utility endpoints
    post_tokenize,
    post_apply_template,
    get_props,
    post_v1_rerank,
)


def _error_by_route(status: int, message: str) -> Response:
    """Routes under /v1/ answer every error in OpenAI's shape, whatever raised it; the others as Paddler."""
    if is_openai_path(request.path):
        return OpenAIError(status, message).response()
    return plain_text_error(status, message)


def busy_body(path: str) -> tuple[bytes, str]:
    """The body of the 503 a request gets when every request thread is busy, in its route's shape."""
    if is_openai_path(path):
        return json.dumps(OpenAIError(503, BUSY).body()).encode(), "application/json"
    return plain_text_busy(path)


def _service_app(name: str, extension_key: str, services: object, error_shape: ErrorShape) -> Flask:
    """A Flask app of one service: compact JSON, the body bound, its services where routes find them, and
    every error in `error_shape`."""
    app = Flask(name)
    app.json = CompactJsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions[extension_key] = services
    register_error_handlers(app, error_shape)
    return app


def _base_app(name: str, services: PaddlerServices, error_shape: ErrorShape = plain_text_error) -> Flask:
    app = _service_app(name, EXTENSION_KEY, services, error_shape)
    app.register_error_handler(OpenAIError, OpenAIError.response)
    app.register_blueprint(get_health.blueprint)

    @app.before_request
    def _room_for_images() -> None:
        # Images travel base64-encoded inside the JSON: a server that reads them takes larger bodies.
        info = services.engine.model_info
        if info is not None and info.supports_images:
            request.max_content_length = MAX_IMAGE_BODY_BYTES

    return app


def _inference_access(app: Flask, services: PaddlerServices) -> None:
    retry_elsewhere_while_leaving(app, services)
    install_access_control(
        app,
        api_keys=services.inference_api_keys,
        other_service_keys=services.management_api_keys,
        cors_origins=services.inference_cors_origins,
    )


def create_inference_app(services: PaddlerServices) -> Flask:
    """Paddler's inference API and the OpenAI API."""
    app = _base_app("paddler.inference", services, _error_by_route)
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
    app = _base_app("paddler.openai", services, _error_by_route)
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
    for module in (
        get_agents,
        get_buffered_requests,
        get_agent_details,
        get_metrics,
        get_metrics_history,
        get_slots,
        balancer_desired_state,
    ):
        app.register_blueprint(module.blueprint)
    get_metrics_history.keep_metrics_history(app, services)
    return app


def create_balancer_app(services: FleetServices) -> Flask:
    """The balancer's management service: Paddler's management API over a fleet of agents, the admin
    panel's slots and charts for the fleet, and the agents' reports."""
    app = _service_app("paddler.balancer", FLEET_EXTENSION_KEY, services, plain_text_error)
    install_access_control(
        app,
        api_keys=services.management_api_keys,
        other_service_keys=(),
        cors_origins=services.management_cors_origins,
        host_names=services.management_host_names,
    )
    for module in (
        get_fleet,
        get_fleet_metrics,
        get_fleet_slots,
        get_fleet_metrics_history,
        get_fleet_agent_details,
        fleet_desired_state,
        agent_registration,
    ):
        app.register_blueprint(module.blueprint)
    get_fleet_slots.keep_fleet_slots(app, services)
    get_fleet_metrics_history.keep_fleet_metrics_history(app, services)
    return app


def create_admin_panel_app(settings: PanelSettings) -> Flask:
    """The web admin panel (Paddler's --web-admin-panel-addr): static pages that call the services."""
    app = Flask("paddler.admin_panel")
    app.register_blueprint(panel_blueprint(settings))
    return app
