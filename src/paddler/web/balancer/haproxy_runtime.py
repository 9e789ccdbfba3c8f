"""HAProxy's runtime API on its admin socket: agents join, change and leave the backend while HAProxy
runs (never a reload), and its statistics say what is queued and what each agent holds."""

from __future__ import annotations

import csv
import socket
from dataclasses import dataclass
from pathlib import Path

BACKEND = "agents"
# The backup server that holds requests while no agent is up (waiting_room.py); not an agent.
WAITING_ROOM = "waiting_room"
SOCKET_TIMEOUT_SECONDS = 2.0


class HaproxyRuntimeError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ServerStats:
    connections: int
    queued: int
    status: str
    # HAProxy's last check result, e.g. L7OK, L7STS (answered, not ready), L4CON (nothing listens).
    check_status: str


@dataclass(frozen=True, slots=True)
class BackendStats:
    queued: int
    servers: dict[str, ServerStats]


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0


class HaproxyRuntime:
    def __init__(self, admin_socket: Path) -> None:
        self._path = str(admin_socket)

    def command(self, line: str) -> str:
        """One command's answer; HaproxyRuntimeError when HAProxy cannot be reached."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(SOCKET_TIMEOUT_SECONDS)
                connection.connect(self._path)
                connection.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise HaproxyRuntimeError(f"haproxy's admin socket: {error}") from None
        return b"".join(chunks).decode(errors="replace").strip()

    def _checked(self, line: str, *accepted: str) -> None:
        answer = self.command(line)
        if answer and not any(answer.startswith(prefix) for prefix in accepted):
            raise HaproxyRuntimeError(f"{line!r}: {answer}")

    def add_server(self, name: str, host: str, port: int, maxconn: int, check_interval_ms: int) -> None:
        """Add an agent, checked on /ready; it takes traffic once set ready."""
        self._checked(
            f"add server {BACKEND}/{name} {host}:{port} maxconn {maxconn} "
            f"check inter {check_interval_ms}ms fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down",
            "New server registered",
        )
        self._checked(f"enable health {BACKEND}/{name}")

    def set_maxconn(self, name: str, maxconn: int) -> None:
        self._checked(f"set maxconn server {BACKEND}/{name} {maxconn}")

    def set_state(self, name: str, state: str) -> None:
        """`ready`, `drain` (running connections finish, no new ones) or `maint`."""
        self._checked(f"set server {BACKEND}/{name} state {state}")

    def delete_server(self, name: str) -> bool:
        """Remove an agent (put in maintenance first); False while it still holds connections."""
        self.set_state(name, "maint")
        answer = self.command(f"del server {BACKEND}/{name}")
        if answer.startswith("Server deleted") or "No such server" in answer:
            return True
        if "still has" in answer or "connections" in answer:
            return False
        raise HaproxyRuntimeError(f"del server {name}: {answer}")

    def close_connections(self, name: str) -> None:
        self._checked(f"shutdown sessions server {BACKEND}/{name}")

    def stats(self) -> BackendStats:
        rows = csv.DictReader(self.command("show stat").lstrip("# ").splitlines())
        servers: dict[str, ServerStats] = {}
        queued = 0
        for row in rows:
            if row.get("pxname") != BACKEND:
                continue
            name = row["svname"]
            if name == "BACKEND":
                queued += _number(row["qcur"])
            elif name == WAITING_ROOM:
                # Requests held there wait for an agent, as in a queue.
                queued += _number(row["scur"])
            elif name != "FRONTEND":
                servers[name] = ServerStats(
                    _number(row["scur"]), _number(row["qcur"]), row["status"], row["check_status"]
                )
        # With affinity a request may also wait in its agent's own queue rather than the backend's.
        return BackendStats(queued + sum(server.queued for server in servers.values()), servers)
