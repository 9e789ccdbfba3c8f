"""The agents the balancer knows, kept in step with HAProxy's backend: an agent's report adds it as a
server (maxconn = its slots), changes its limit and state, and its silence or its departure removes it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paddler.web.balancer.agent_report import AgentReport
from paddler.web.balancer.haproxy_runtime import HaproxyRuntime, HaproxyRuntimeError
from paddler.web.shared.address import parse_address
from paddler.web.shared.desired_state import BalancerDesiredState

logger = logging.getLogger(__name__)
# An agent reports every second: one silent for longer has gone (killed, or cut off).
SILENT_SECONDS = 1.6
# HAProxy's checks found nothing listening: the agent's process is gone.
DEAD_CHECKS = frozenset({"L4CON", "L4TOUT"})
REMOVE_WAIT_SECONDS = 30.0
CHECK_INTERVAL_MS = 500


@dataclass(slots=True)
class FleetAgent:
    id: str
    report: AgentReport
    last_seen: float
    # Out of rotation while a rolling update applies a desired state to it.
    held: bool = False
    server_added: bool = False
    maxconn: int = 0
    state: str = ""
    # The desired state this agent was found holding or was given by this balancer (None: not known).
    given_state: dict[str, Any] | None = None

    @property
    def server(self) -> str:
        return f"agent_{self.id}"

    @property
    def slots_total(self) -> int:
        return int(self.report.snapshot.get("slots_total") or 0)

    def wanted_state(self) -> str:
        serving = self.slots_total > 0 and not self.report.leaving and not self.held
        return "ready" if serving else "drain"

    def snapshot(self) -> dict[str, Any]:
        return {**self.report.snapshot, "id": self.id, "name": self.report.name}


@dataclass(slots=True)
class Fleet:
    runtime: HaproxyRuntime
    _agents: dict[str, FleetAgent] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    # The last desired state PUT at the balancer (or read from its state file); None until then.
    desired_state: BalancerDesiredState | None = None
    # Called (outside the lock) when an agent joins: brings it to the desired state.
    on_join: Callable[[], None] = lambda: None

    def report(self, agent_id: str, report: AgentReport) -> None:
        with self._lock:
            agent = self._agents.get(agent_id)
            joined = agent is None
            if agent is None:
                agent = self._agents[agent_id] = FleetAgent(agent_id, report, time.monotonic())
                logger.info("agent %s (%s) joined at %s", agent_id, report.name, report.inference_addr)
            agent.report, agent.last_seen = report, time.monotonic()
            self._sync(agent)
        if joined:
            self.on_join()

    def _sync(self, agent: FleetAgent) -> None:
        """Bring the agent's HAProxy server in line with its report (a limit of 0 is unlimited to HAProxy:
        an agent without slots is drained instead)."""
        maxconn = max(1, agent.slots_total)
        try:
            if not agent.server_added:
                host, port = parse_address(agent.report.inference_addr)
                self.runtime.add_server(agent.server, host, port, maxconn, CHECK_INTERVAL_MS)
                agent.server_added, agent.maxconn, agent.state = True, maxconn, "maint"
            if maxconn != agent.maxconn:
                self.runtime.set_maxconn(agent.server, maxconn)
                agent.maxconn = maxconn
            wanted = agent.wanted_state()
            if wanted != agent.state:
                self.runtime.set_state(agent.server, wanted)
                agent.state = wanted
        except HaproxyRuntimeError as error:
            logger.error("agent %s: %s", agent.id, error)

    def hold(self, agent_id: str, held: bool) -> None:
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is not None:
                agent.held = held
                self._sync(agent)

    def leave(self, agent_id: str) -> bool:
        with self._lock:
            agent = self._agents.pop(agent_id, None)
        if agent is None:
            return False
        logger.info("agent %s (%s) left", agent_id, agent.report.name)
        if agent.server_added:
            threading.Thread(target=self._remove_server, args=(agent.server,), daemon=True).start()
        return True

    def _remove_server(self, server: str) -> None:
        """Delete the server once its connections are gone (a dead agent's fail fast); after a long wait,
        cut them."""
        deadline = time.monotonic() + REMOVE_WAIT_SECONDS
        try:
            while not self.runtime.delete_server(server):
                if time.monotonic() > deadline:
                    self.runtime.close_connections(server)
                time.sleep(0.2)
        except HaproxyRuntimeError as error:
            logger.error("cannot remove %s from haproxy: %s", server, error)

    def reap(self) -> None:
        """Remove the agents that stopped reporting, or whose process HAProxy finds gone."""
        try:
            servers = self.runtime.stats().servers
        except HaproxyRuntimeError:
            servers = {}
        now = time.monotonic()
        with self._lock:
            gone = [
                agent.id
                for agent in self._agents.values()
                if now - agent.last_seen > SILENT_SECONDS
                or (agent.server in servers and servers[agent.server].check_status in DEAD_CHECKS)
            ]
        for agent_id in gone:
            self.leave(agent_id)

    def haproxy_restarted(self) -> None:
        """A new HAProxy starts with an empty backend: add every agent again."""
        with self._lock:
            for agent in self._agents.values():
                agent.server_added, agent.state = False, ""
                self._sync(agent)

    def agents(self) -> list[FleetAgent]:
        with self._lock:
            return sorted(self._agents.values(), key=lambda agent: (agent.report.name or "", agent.id))

    def get(self, agent_id: str) -> FleetAgent | None:
        with self._lock:
            return self._agents.get(agent_id)

    def keep_reaping(self, stopped: threading.Event, interval: float = 0.2) -> None:
        while not stopped.wait(interval):
            self.reap()
