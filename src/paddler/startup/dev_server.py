"""The services on Werkzeug's development server, one thread each, until SIGINT or SIGTERM.

Production runs under gunicorn instead (see gunicorn.conf.py); this is for development and tests.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from werkzeug.serving import BaseWSGIServer

from paddler.startup.wsgi_server import make_wsgi_server
from paddler.web.admin_panel.panel_pages import PanelSettings
from paddler.web.create_app import (
    create_admin_panel_app,
    create_inference_app,
    create_management_app,
    create_openai_app,
)
from paddler.web.shared.address import parse_address
from paddler.web.shared.metrics_history import start_metrics_history
from paddler.web.shared.paddler_services import PaddlerServices

logger = logging.getLogger(__name__)
WEBSOCKET_CLOSE_SECONDS = 1.0


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    finished = threading.Event()

    def on_signal(signal_number: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signal_number).name)
        finished.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    finished.wait()


class DevServers:
    def __init__(
        self,
        services: PaddlerServices,
        inference_address: str,
        management_address: str,
        openai_address: str | None = None,
        admin_panel: PanelSettings | None = None,
    ) -> None:
        self.services = services
        self._servers: list[tuple[str, BaseWSGIServer]] = []
        management = create_management_app(services)
        start_metrics_history(management)
        services_by_address = [
            ("inference", inference_address, create_inference_app(services)),
            ("management", management_address, management),
        ]
        if openai_address is not None:
            services_by_address.append(("openai", openai_address, create_openai_app(services)))
        if admin_panel is not None:
            services_by_address.append(("admin panel", admin_panel.address, create_admin_panel_app(admin_panel)))
        for name, address, app in services_by_address:
            host, port = parse_address(address)
            self._servers.append((name, make_wsgi_server(host, port, app)))
        self._stopped = threading.Event()
        self._started = False

    @property
    def addresses(self) -> dict[str, str]:
        return {name: f"{server.host}:{server.port}" for name, server in self._servers}

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for name, server in self._servers:
            threading.Thread(target=server.serve_forever, name=f"paddler-{name}", daemon=True).start()
            logger.info("%s service listening on http://%s:%d", name, server.host, server.port)

    def stop(self, drain_seconds: float) -> None:
        """Drain the engine (running requests may finish), then close the listeners."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.services.engine_ready.wait()  # a desired state being applied finishes first
        self.services.engine.stop(timeout=drain_seconds)
        self.services.shutting_down.set()
        time.sleep(WEBSOCKET_CLOSE_SECONDS)  # lets open sockets send their 1001 close
        for _, server in self._servers:
            server.shutdown()

    def serve_until_signalled(self, drain_seconds: float, before_stop: Callable[[], None] | None = None) -> None:
        """`before_stop` runs once a signal came, before the drain (an agent leaving its fleet)."""
        self.start()
        wait_for_signal()
        if before_stop is not None:
            before_stop()
        self.stop(drain_seconds)
