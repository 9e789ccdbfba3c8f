"""Server-sent event streams of the management service, read with paddler-client and raw HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
from paddler_client.client_management import ClientManagement

from .conftest import ServerFactory

ENDLESS = {"type": "gbnf", "grammar": 'root ::= "ab " root', "root": "root"}


def test_agents_stream_shows_a_slot_taken_and_released(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1")

    async def scenario() -> list[int]:
        management = ClientManagement(server.management_url)
        seen: list[int] = []
        async with httpx.AsyncClient(timeout=60) as client:
            generation: asyncio.Task[httpx.Response] | None = None
            async for snapshot in management.agents_stream():
                seen.append(snapshot.agents[0].slots_processing)
                if generation is None:
                    generation = asyncio.create_task(
                        client.post(
                            server.inference_url + "/api/v1/continue_from_raw_prompt",
                            json={"raw_prompt": "Count slowly:", "max_tokens": 60, "grammar": ENDLESS},
                        )
                    )
                elif seen[-1] == 0 and 1 in seen:
                    break
            assert generation is not None
            await generation
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == 0, "the first event is the current snapshot"
    assert 1 in seen
    assert seen[-1] == 0


def test_buffered_requests_stream_starts_with_a_snapshot_and_ends_at_shutdown(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1")
    with httpx.stream("GET", server.management_url + "/api/v1/buffered_requests/stream", timeout=30) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        lines = events.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first.removeprefix("data: ")) == {"buffered_requests_current": 0}
        started = time.monotonic()
        server.process.terminate()
        for _ in lines:
            pass
        assert time.monotonic() - started < 10


def test_a_quiet_agents_stream_outlives_the_clients_default_read_timeout(server_factory: ServerFactory) -> None:
    """paddler-client reads with httpx's default 5 s timeout; keep-alives must come sooner than that."""
    server = server_factory("--slots", "1")

    async def scenario() -> float:
        management = ClientManagement(server.management_url)
        started = time.monotonic()
        stream = management.agents_stream()
        await anext(stream)
        reader = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(7.0)
        assert not reader.done(), "nothing changed, so no snapshot"
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        return time.monotonic() - started

    assert asyncio.run(scenario()) >= 7.0
