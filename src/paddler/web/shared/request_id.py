"""The id a response carries for a request whose client named none."""

from __future__ import annotations

import secrets

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"


def new_request_id() -> str:
    """A 21-character id from nanoid's alphabet, as Paddler generates for HTTP requests."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(21))
