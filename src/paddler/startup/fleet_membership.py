"""An agent's membership in a fleet (`paddler serve --balancer-addr`): once its engine is ready it
reports to the balancer every second and on every change, which registers it (and registers it again
after the balancer restarts or a report was lost); on shutdown it drains, then leaves."""

from __future__ import annotations

import logging
import threading
import time
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


class FleetMembership:
    def __init__(
        self,
        services: PaddlerServices,
        balancer_addr: str,
        addresses: tuple[str, str],
        api_key: str | None = None,
    ) -> None:
        self._services = services
        self._url = f"http://{balancer_addr}{AGENT_PATH}{services.agent_id}"
        self._inference_addr, self._management_addr = addresses
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._leaving = False
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._reachable = True
        self._thread = threading.Thread(target=self._keep_reporting, name="paddler-fleet", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _report(self, snapshot: dict[str, Any]) -> None:
        report = AgentReport(
            name=self._services.name,
            inference_addr=self._inference_addr,
            management_addr=self._management_addr,
            leaving=self._leaving,
            snapshot=snapshot,
        )
        try:
            response = httpx.put(
                self._url, json=report.model_dump(), headers=self._headers, timeout=SEND_TIMEOUT_SECONDS
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            if self._reachable:
                logger.warning("cannot report to the balancer (%s); trying again every second", error)
            self._reachable = False
            return
        if not self._reachable:
            logger.info("reporting to the balancer again")
        self._reachable = True

    def _keep_reporting(self) -> None:
        last: dict[str, Any] | None = None
        last_sent = 0.0
        while not self._stopped.is_set():
            snapshot = agent_snapshot(self._services)
            now = time.monotonic()
            if snapshot != last or now - last_sent >= REPORT_SECONDS or self._wake.is_set():
                self._wake.clear()
                self._report(snapshot)
                last, last_sent = snapshot, now
            self._stopped.wait(LOOK_SECONDS)

    def drain(self) -> None:
        """Ask the balancer for no new requests; the running ones finish."""
        self._leaving = True
        self._wake.set()
        time.sleep(2 * LOOK_SECONDS)

    def leave(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=SEND_TIMEOUT_SECONDS)
        try:
            httpx.delete(self._url, headers=self._headers, timeout=SEND_TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            logger.warning("cannot tell the balancer this agent leaves (%s); it will notice the silence", error)
