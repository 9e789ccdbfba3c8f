"""The waiting room asks HAProxy whether an agent is up for all its waiting requests at once: sixteen
requests waiting a second for a fleet with no agent cost HAProxy about twenty looks at its stats, not
twenty per request (a crowd at a scaled-to-zero fleet would otherwise keep the balancer busy parsing
HAProxy's stats). Every one of them still gets Paddler's 504 when its wait runs out."""

from __future__ import annotations

import threading
from io import BytesIO
from pathlib import Path
from typing import Any

from paddler.startup.haproxy_config import HaproxySettings
from paddler.startup.haproxy_process import HaproxyProcess
from paddler.web.balancer.haproxy_runtime import BackendStats, HaproxyRuntime
from paddler.web.balancer.waiting_room import LOOK_SECONDS, WaitingRoom
from tests.web.conftest import free_port

WAITING = 16
TIMEOUT_MS = 1000


class CountingRuntime(HaproxyRuntime):
    """The real runtime API, counting its looks at HAProxy's stats."""

    looks = 0

    def stats(self) -> BackendStats:
        CountingRuntime.looks += 1
        return super().stats()


def test_sixteen_waiting_requests_share_one_look_at_haproxy_and_each_gets_504(tmp_path: Path) -> None:
    settings = HaproxySettings("127.0.0.1", free_port(), WAITING, TIMEOUT_MS, tmp_path)
    haproxy = HaproxyProcess(settings, on_restart=lambda: None)
    haproxy.start()
    try:
        room = WaitingRoom(CountingRuntime(haproxy.admin_socket), WAITING, TIMEOUT_MS, threading.Event(), 1 << 16)
        statuses: list[str] = []

        def wait() -> None:
            environ = {"CONTENT_LENGTH": "0", "wsgi.input": BytesIO()}

            def start_response(status: str, headers: list[tuple[str, str]]) -> Any:
                statuses.append(status)

            b"".join(room(environ, start_response))

        threads = [threading.Thread(target=wait) for _ in range(WAITING)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        haproxy.stop()
    assert statuses == ["504 Gateway Timeout"] * WAITING
    # One look per LOOK_SECONDS over the one-second wait, with room for a loaded host's slow looks.
    assert CountingRuntime.looks <= 2 * (TIMEOUT_MS / 1000) / LOOK_SECONDS
