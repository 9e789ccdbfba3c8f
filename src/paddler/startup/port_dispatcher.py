"""One WSGI callable for a server bound to two ports: each request goes to the app of the port it
arrived on, so gunicorn can serve the inference and management services from one worker."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any

from paddler.web.shared.thread_reserve import WsgiApp


def _local_port(environ: dict[str, Any]) -> int | None:
    connection = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        try:
            return int(connection.getsockname()[1])
        except (OSError, IndexError, TypeError):
            return None
    port = environ.get("SERVER_PORT", "")
    return int(port) if str(port).isdigit() else None


class PortDispatcher:
    def __init__(self, default_app: WsgiApp, apps_by_port: dict[int, WsgiApp]) -> None:
        self._default_app = default_app
        self._apps_by_port = apps_by_port

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        port = _local_port(environ)
        app = self._apps_by_port.get(port, self._default_app) if port is not None else self._default_app
        return app(environ, start_response)
