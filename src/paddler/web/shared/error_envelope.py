"""Paddler's Error envelope, the one line that ends a request in its wire format: from a server's stream
(NDJSON or WebSocket) or from a balancer that could not place the request."""

from __future__ import annotations

import json


def error_envelope(request_id: str, code: int, description: str) -> str:
    return json.dumps(
        {"Error": {"request_id": request_id, "error": {"code": code, "description": description}}},
        ensure_ascii=False,
        separators=(",", ":"),
    )
