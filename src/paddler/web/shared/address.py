"""host:port addresses, as the command line and agents' reports give them."""

from __future__ import annotations


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of `host:port` or `[IPv6]:port` (without the brackets); an empty host is 127.0.0.1.
    ValueError when it is not such an address."""
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address must be host:port, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
