"""Noticing that an HTTP client went away while its response is still waiting for the engine.

A blocked stream never writes, so a vanished client would go unseen; the socket is peeked instead.
EOF (a close or a half-close, which Paddler also treats as a disconnect) means the client is gone.
"""

from __future__ import annotations

import socket
from typing import Any


def _client_socket(environ: dict[str, Any]) -> socket.socket | None:
    for key in ("gunicorn.socket", "werkzeug.socket"):
        candidate = environ.get(key)
        if isinstance(candidate, socket.socket):
            return candidate
    return None


def client_disconnected(environ: dict[str, Any]) -> bool:
    connection = _client_socket(environ)
    if connection is None:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
