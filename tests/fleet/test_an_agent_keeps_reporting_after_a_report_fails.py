"""An agent's reports to its balancer survive a fault in one of them: the thread that sends them keeps
going (a thread that died would leave the fleet in silence and never confirm a drain). The fault is
injected into the snapshot a report is made of; the balancer is a stand-in that records what it takes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any, cast

import pytest

from paddler.startup import fleet_membership
from paddler.startup.fleet_membership import FleetMembership
from paddler.web.shared.paddler_services import PaddlerServices
from tests.web.conftest import free_port, wait_for


class RecordingBalancer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _Recorder)
        self.reports: list[dict[str, Any]] = []


class _Recorder(BaseHTTPRequestHandler):
    server: RecordingBalancer

    def do_PUT(self) -> None:
        self.server.reports.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def balancer() -> Iterator[RecordingBalancer]:
    server = RecordingBalancer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_agent_keeps_reporting_and_drains_after_a_report_fails(
    balancer: RecordingBalancer, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = iter([RuntimeError("injected: the snapshot failed"), RuntimeError("injected again")])

    def snapshot(services: PaddlerServices) -> dict[str, Any]:
        fault = next(faults, None)
        if fault is not None:
            raise fault
        return {"slots_total": 1}

    monkeypatch.setattr(fleet_membership, "agent_snapshot", snapshot)
    stand_in = SimpleNamespace(agent_id="agent-x", name="agent-x", leaving_fleet=threading.Event())
    services = cast(PaddlerServices, stand_in)
    port = balancer.server_address[1]
    membership = FleetMembership(services, [f"127.0.0.1:{port}"], ("127.0.0.1:1", "127.0.0.1:2"))
    membership.start()
    try:
        assert wait_for(lambda: bool(balancer.reports), timeout=10)
        assert not balancer.reports[0]["leaving"]
        membership.drain()
        assert services.leaving_fleet.is_set()
        assert balancer.reports[-1]["leaving"]
    finally:
        membership.leave()
