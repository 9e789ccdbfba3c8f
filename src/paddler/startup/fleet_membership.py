"""An agent's membership in a fleet (`paddler serve --balancer-addr`): once its engine is ready it
reports to the balancer every second and on every change, which registers it (and registers it again
after the balancer restarts or a report was lost); on shutdown it drains, then leaves. With several
balancers (for high availability) it does so with each, on a thread of its own, so one that is down
never delays the reports to the others."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from paddler.web.balancer.agent_report import AGENT_PATH, AgentReport
from paddler.web.management.agent_snapshot import agent_snapshot
from paddler.web.shared.paddler_services import PaddlerServices

logger = logging.getLogger(__name__)
REPORT_SECONDS = 1.0
# How often a change is looked for, and so the least time between two reports.
LOOK_SECONDS = 0.1
SEND_TIMEOUT_SECONDS = 2.0
# How long a leaving agent waits for its balancers to drain it (a report in flight, then the leaving one).
DRAIN_ACK_SECONDS = 2 * SEND_TIMEOUT_SECONDS + 1.0
DRAIN_GRACE_SECONDS = 0.2


class FleetMembership:
    def __init__(
        self,
        services: PaddlerServices,
        balancer_addrs: Sequence[str],
        addresses: tuple[str, str],
        api_key: str | None = None,
    ) -> None:
        self._services = services
        self._urls = [f"http://{address}{AGENT_PATH}{services.agent_id}" for address in balancer_addrs]
        self._inference_addr, self._management_addr = addresses
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._leaving = False
        self._stopped = threading.Event()
        # One per balancer: set to report at once (the agent starts leaving).
        self._wakes = [threading.Event() for _ in self._urls]
        # One per balancer: set once it took a report that says the agent leaves (HAProxy drains it then).
        self._drained = [threading.Event() for _ in self._urls]
        self._threads = [
            threading.Thread(target=self._keep_reporting, args=args, name="paddler-fleet", daemon=True)
            for args in zip(self._urls, self._wakes, self._drained, strict=True)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _report(self, url: str, snapshot: dict[str, Any], reachable: bool, leaving: bool) -> bool:
        """Send one report; whether the balancer took it (a change of that is logged once)."""
        report = AgentReport(
            name=self._services.name,
            inference_addr=self._inference_addr,
            management_addr=self._management_addr,
            leaving=leaving,
            snapshot=snapshot,
        )
        try:
            response = httpx.put(url, json=report.model_dump(), headers=self._headers, timeout=SEND_TIMEOUT_SECONDS)
            response.raise_for_status()
        except httpx.HTTPError as error:
            if reachable:
                logger.warning("cannot report to the balancer %s (%s); trying again every second", url, error)
            return False
        if not reachable:
            logger.info("reporting to the balancer %s again", url)
        return True

    def _keep_reporting(self, url: str, wake: threading.Event, drained: threading.Event) -> None:
        last: dict[str, Any] | None = None
        last_sent = 0.0
        reachable = True
        failing = False
        while not self._stopped.is_set():
            try:
                snapshot = agent_snapshot(self._services)
                now = time.monotonic()
                if snapshot != last or now - last_sent >= REPORT_SECONDS or wake.is_set():
                    wake.clear()
                    leaving = self._leaving
                    reachable = self._report(url, snapshot, reachable, leaving)
                    if reachable and leaving:
                        drained.set()
                    last, last_sent = snapshot, now
                failing = False
            except Exception:
                # A thread that died here would leave the fleet in silence and never report a drain.
                if not failing:
                    logger.exception("reporting to the balancer %s failed; trying again", url)
                failing = True
                wake.set()
            self._stopped.wait(LOOK_SECONDS)

    def drain(self) -> None:
        """Ask every balancer for no new requests and wait until each has drained this agent in HAProxy
        (or could not be reached in time), so the engine stops taking requests only once none are sent."""
        self._leaving = True
        for wake in self._wakes:
            wake.set()
        deadline = time.monotonic() + DRAIN_ACK_SECONDS
        for url, drained in zip(self._urls, self._drained, strict=True):
            if not drained.wait(max(0.0, deadline - time.monotonic())):
                logger.warning("the balancer %s did not confirm the drain in time; leaving anyway", url)
        # A request HAProxy sent just before it drained this agent is on its way: let it be admitted.
        time.sleep(DRAIN_GRACE_SECONDS)
        # From now on the engine takes nothing new: what still arrives goes back to HAProxy for another agent.
        self._services.leaving_fleet.set()
        # A request that passed the 425 check just before reaches the engine, which serves it (with what it
        # buffered) while it drains.
        time.sleep(DRAIN_GRACE_SECONDS)

    def leave(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=SEND_TIMEOUT_SECONDS)
        for url in self._urls:
            try:
                httpx.delete(url, headers=self._headers, timeout=SEND_TIMEOUT_SECONDS)
            except httpx.HTTPError as error:
                logger.warning("cannot tell %s this agent leaves (%s); it will notice the silence", url, error)
