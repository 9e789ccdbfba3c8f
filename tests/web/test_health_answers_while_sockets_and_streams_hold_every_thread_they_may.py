"""Under gunicorn each open WebSocket and each stream holds one of the worker's threads: a crowd of them
is refused beyond its bounds, and /health and /ready keep answering at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from paddler.web.shared.thread_reserve import reserved_threads, websocket_limit

from .conftest import wait_for
from .gunicorn_server import Gunicorn, gunicorn

THREADS = 8


@pytest.fixture(scope="module")
def crowded_server(default_model_path: Path) -> Iterator[Gunicorn]:
    with gunicorn(
        f"--model {default_model_path} --threads 2 --slots 2 --context-size 2048", PADDLER_THREADS=str(THREADS)
    ) as served:
        yield served


def _open_sockets(served: Gunicorn, attempts: int, stack: ExitStack) -> tuple[list[Connection], list[int]]:
    """Open up to `attempts` idle WebSockets (no key, nothing sent); returns those open and the refusals."""
    opened: list[Connection] = []
    refused: list[int] = []
    for _ in range(attempts):
        try:
            opened.append(stack.enter_context(connect(served.socket_url, open_timeout=5)))
        except InvalidStatus as refusal:
            refused.append(refusal.response.status_code)
    return opened, refused


def _assert_probes_answer_at_once(served: Gunicorn) -> None:
    for url in (served.urls[0], served.urls[1]):
        for probe in ("/health", "/ready"):
            started = time.monotonic()
            assert httpx.get(url + probe, timeout=3).status_code == 200
            assert time.monotonic() - started < 1


def test_websockets_beyond_the_bound_are_refused_and_health_still_answers(crowded_server: Gunicorn) -> None:
    with ExitStack() as stack:
        opened, refused = _open_sockets(crowded_server, THREADS, stack)
        _assert_probes_answer_at_once(crowded_server)
        assert len(opened) == websocket_limit(THREADS)
        assert set(refused) == {503}
        # HTTP still has threads of its own.
        response = httpx.post(
            crowded_server.urls[0] + "/api/v1/continue_from_raw_prompt",
            json={"raw_prompt": "Hello", "max_tokens": 2},
            timeout=30,
        )
        assert response.status_code == 200
        assert "Done" in response.text.splitlines()[-1]
    # Closed sockets give their places back.
    with connect(crowded_server.socket_url, open_timeout=5):
        pass


def test_streams_and_sockets_together_never_take_the_threads_held_for_the_probes(crowded_server: Gunicorn) -> None:
    """Event streams fill what the sockets leave; the request beyond gets 503 at once, the probes 200."""
    # The sockets of the test before may take a moment to be counted out.
    assert wait_for(lambda: httpx.get(crowded_server.urls[1] + "/metrics").status_code == 200)
    with ExitStack() as stack:
        sockets: list[Connection] = []
        while len(sockets) < websocket_limit(THREADS):
            opened, _ = _open_sockets(crowded_server, 1, stack)
            sockets += opened
            time.sleep(0.1)
        # Each stream's line iterator is kept: one dropped would close its connection (httpx closes a
        # response left unread), and the server, rightly, would free that stream's thread.
        streams: list[Iterator[str]] = []
        while len(streams) < THREADS - reserved_threads(THREADS) - len(sockets):
            client = stack.enter_context(httpx.Client(timeout=5))
            response = stack.enter_context(client.stream("GET", crowded_server.urls[1] + "/api/v1/agents/stream"))
            assert response.status_code == 200
            streams.append(response.iter_lines())
            assert next(streams[-1]).startswith("data: ")
        started = time.monotonic()
        beyond = httpx.get(crowded_server.urls[1] + "/api/v1/agents", timeout=3)
        assert beyond.status_code == 503
        assert beyond.headers["Retry-After"] == "1"
        assert time.monotonic() - started < 1
        _assert_probes_answer_at_once(crowded_server)
    assert httpx.get(crowded_server.urls[1] + "/api/v1/agents", timeout=5).status_code == 200
