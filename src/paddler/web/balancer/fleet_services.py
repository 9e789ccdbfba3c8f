"""What the balancer's management routes share, and where Flask keeps it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app

from paddler.web.balancer.fleet import Fleet
from paddler.web.balancer.haproxy_runtime import HaproxyRuntime
from paddler.web.shared.desired_state import BalancerDesiredState
from paddler.web.shared.state_applier import StateApplier

EXTENSION_KEY = "paddler_fleet"


@dataclass(slots=True)
class FleetServices:
    fleet: Fleet
    runtime: HaproxyRuntime
    max_buffered_requests: int
    buffered_request_timeout_ms: int
    management_api_keys: tuple[str, ...] = ()
    management_cors_origins: tuple[str, ...] = ()
    management_host_names: tuple[str, ...] = ()
    # The Bearer key the balancer presents to the agents' management APIs (None: they have none).
    agent_management_key: str | None = None
    # Applies the balancer's desired state to the agents, one at a time, the last PUT winning.
    rollout: StateApplier = field(default_factory=StateApplier)
    stopped: threading.Event = field(default_factory=threading.Event)
    # Keeps a desired state PUT here across restarts (`--state-file`); raises OSError when it cannot.
    keep_state: Callable[[BalancerDesiredState], None] = lambda state: None


def current_fleet() -> FleetServices:
    services: FleetServices = current_app.extensions[EXTENSION_KEY]
    return services
