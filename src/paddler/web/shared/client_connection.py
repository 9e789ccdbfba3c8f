"""Noticing that an HTTP client went away while its response is still waiting for the engine.

A blocked stream never writes, so a vanished client would go unseen; the connection's descriptor is
polled instead. The descriptor, not the socket object: under TLS the object is an SSLSocket, whose recv
takes no flags, and an unread TLS record (the client's close_notify) would hide the end from a peek.
POLLRDHUP reports the client's FIN (a close or a half-close, which Paddler also treats as a disconnect)
whatever data is still unread before it; where the platform lacks it, a peek of the raw descriptor
stands in (it sees a plain connection's EOF, though not one behind unread TLS records).
"""

from __future__ import annotations

import select
import socket
from typing import Any

_GONE_EVENTS = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR


def _client_socket(environ: dict[str, Any]) -> socket.socket | None:
    for key in ("gunicorn.socket", "werkzeug.socket"):
        candidate = environ.get(key)
        if isinstance(candidate, socket.socket):
            return candidate
    return None


def _peer_hung_up(descriptor: int) -> bool:
    poller = select.poll()
    poller.register(descriptor, _GONE_EVENTS)
    return bool(poller.poll(0))  # any event (POLLNVAL included) means the connection is over


def _raw_peek_at_end(connection: socket.socket) -> bool:
    try:
        with socket.fromfd(connection.fileno(), connection.family, connection.type) as raw:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def client_disconnected(environ: dict[str, Any]) -> bool:
    connection = _client_socket(environ)
    if connection is None:
        return False
    descriptor = connection.fileno()
    if descriptor < 0:
        return True
    if hasattr(select, "POLLRDHUP"):
        return _peer_hung_up(descriptor)
    return _raw_peek_at_end(connection)
