"""The answer that makes a fleet's HAProxy send a request to another agent: 425 before any byte (`retry-on
425` with `option redispatch`, startup/haproxy_config.py), which HAProxy never passes on while it has
retries left. The balancer's waiting room answers it once an agent is up; an agent leaving its fleet
answers it, once its balancers have drained it and its engine takes nothing new, to every inference
request that still reaches it, so none meets an engine that is shutting down."""

from __future__ import annotations

from flask import Flask, Response, request

from paddler.web.shared import get_health
from paddler.web.shared.paddler_services import PaddlerServices

RETRY_STATUS = "425 Too Early"


def retry_elsewhere_while_leaving(app: Flask, services: PaddlerServices) -> None:
    """Answer 425 to every request but the health checks once `services.leaving_fleet` is set."""

    @app.before_request
    def _retry_elsewhere() -> Response | None:
        if services.leaving_fleet.is_set() and request.blueprint != get_health.blueprint.name:
            return Response(status=RETRY_STATUS)
        return None
