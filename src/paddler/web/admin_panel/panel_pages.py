"""The admin panel: a page and its ES modules and styles, all served from the package (no CDN, no build
step), and the addresses of the services the page talks to. The page itself holds no data: it reads
everything from the management and inference services, with the key the user signs in with."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from flask import Blueprint, Response, jsonify, send_from_directory

STATIC_FOLDER = Path(__file__).resolve().parent / "static"
# Scripts and styles only from this address; the page's own code may call the services anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http: https: ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True, slots=True)
class PanelSettings:
    """The panel's own host:port, each service's, and the buffer limits the dashboard shows beside the
    buffered requests, as given on the command line; `fleet`: served by a balancer (its management
    service answers for every agent, and its inference address is HAProxy's)."""

    address: str
    management: str
    inference: str
    openai: str | None
    max_buffered_requests: int
    buffered_request_timeout_ms: int
    fleet: bool = False


def panel_blueprint(settings: PanelSettings) -> Blueprint:
    blueprint = Blueprint("admin_panel", __name__)

    @blueprint.get("/")
    def get_index() -> Response:
        return send_from_directory(STATIC_FOLDER, "index.html", max_age=0)

    @blueprint.get("/assets/<path:name>")
    def get_asset(name: str) -> Response:
        return send_from_directory(STATIC_FOLDER, name, max_age=0)

    @blueprint.get("/config.json")
    def get_config() -> Response:
        return jsonify(asdict(settings))

    @blueprint.after_app_request
    def add_security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return blueprint
