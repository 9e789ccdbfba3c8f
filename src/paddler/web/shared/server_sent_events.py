"""Server-sent event responses, and the event stream of a snapshot: the current value at once, then each
change, with keep-alives."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from paddler.web.shared.client_connection import client_disconnected

POLL_SECONDS = 0.2
# paddler-client reads streams with httpx's default 5 s read timeout: a quiet stream must speak sooner.
KEEP_ALIVE_SECONDS = 2.0


def _snapshot_events(
    snapshot: Callable[[], Any], still_serving: Callable[[], bool], environ: dict[str, Any]
) -> Iterator[bytes]:
    last: Any = None
    last_sent = 0.0
    while still_serving():
        current = snapshot()
        now = time.monotonic()
        if current != last:
            yield f"data: {json.dumps(current, separators=(',', ':'))}\n\n".encode()
            last, last_sent = current, now
        elif now - last_sent > KEEP_ALIVE_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = now
        if client_disconnected(environ):
            return
        time.sleep(POLL_SECONDS)


def event_stream_response(events: Iterable[bytes]) -> Response:
    """A streamed text/event-stream response; proxies are told not to cache it."""
    return Response(events, content_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def sse_response(snapshot: Callable[[], Any], still_serving: Callable[[], bool]) -> Response:
    return event_stream_response(_snapshot_events(snapshot, still_serving, request.environ))


Services = TypeVar("Services")


def add_snapshot_routes(
    blueprint: Blueprint,
    path: str,
    services: Callable[[], Services],
    snapshot: Callable[[Services], Any],
    still_serving: Callable[[Services], bool],
) -> None:
    """GET `path` answers the snapshot as JSON; GET `path`/stream sends it as server-sent events whenever
    it changes (Paddler's pairs: agents, buffered requests; ours: slots)."""
    name = path.strip("/").replace("/", "_")

    def get_snapshot() -> Response:
        return jsonify(snapshot(services()))

    def get_snapshot_stream() -> Response:
        held = services()
        return sse_response(lambda: snapshot(held), lambda: still_serving(held))

    blueprint.add_url_rule(path, name, get_snapshot, methods=["GET"])
    blueprint.add_url_rule(f"{path}/stream", f"{name}_stream", get_snapshot_stream, methods=["GET"])
