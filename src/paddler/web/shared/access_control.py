"""API keys and CORS for one service, checked before any route runs.

Keys (optional; Paddler has none): `Authorization: Bearer <key>`, compared in constant time; the
inference and management services have separate keys, and a key of the other service is refused with
403. `/health` and `/ready` stay public. CORS follows Paddler: an exact-match origin allow-list; a
request carrying any other Origin is refused; requests without an Origin (curl, SDKs) pass.

Host names (the management service without a key): a web page whose DNS name is made to point at this
machine (DNS rebinding) could read and change the management API from the user's browser, which sends
the page's own name as `Host`. Without a key, only loopback names, IP addresses (a browser sends one only
when the page itself came from that address) and the configured names are answered; others get 421.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

from flask import Flask, Response, request

from paddler.web.shared.api_error import error_response

PUBLIC_PATHS = frozenset({"/health", "/ready"})
ALLOWED_METHODS = "DELETE, GET, POST, PUT, OPTIONS"
ALLOWED_HEADERS = "Accept, Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "3600"
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def _host_name(host_header: str) -> str:
    """The name of a Host header, without its port or an IPv6 literal's brackets."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    name, _, port = host_header.rpartition(":")
    return name if name and port.isdigit() else host_header


def host_is_allowed(host_header: str, names: Sequence[str]) -> bool:
    name = _host_name(host_header.strip()).lower()
    if name in LOOPBACK_NAMES or name in {allowed.lower() for allowed in names}:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _matches(presented: str, keys: Sequence[str]) -> bool:
    # Compare against every key, so the time taken does not tell which one came close.
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented.encode(), key.encode())
    return found


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def install_access_control(
    app: Flask,
    *,
    api_keys: Sequence[str],
    other_service_keys: Sequence[str],
    cors_origins: Sequence[str],
    host_names: Sequence[str] | None = None,
) -> None:
    """`host_names` None: any Host is answered; else, without keys, only the names host_is_allowed takes."""
    allowed_origins = frozenset(cors_origins)

    @app.before_request
    def check_host() -> Response | None:
        if host_names is None or api_keys or request.path in PUBLIC_PATHS:
            return None
        if host_is_allowed(request.host, host_names):
            return None
        return error_response(421, "Host is not one this service answers to without an API key")

    @app.before_request
    def check_access() -> Response | None:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in allowed_origins:
            return error_response(400, "Origin is not allowed")
        if request.method == "OPTIONS":
            return Response(status=200)
        if not api_keys or request.path in PUBLIC_PATHS:
            return None
        presented = _presented_key()
        if presented is not None and _matches(presented, api_keys):
            return None
        if presented is not None and _matches(presented, other_service_keys):
            return error_response(403, "This key is for the other service")
        response = error_response(401, "Missing or invalid API key")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and origin in allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
                response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response
