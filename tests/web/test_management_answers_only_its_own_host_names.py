"""Without a key, the management service answers only the names it is reached by directly (loopback
names, IP addresses, the bound name and configured ones), so a page made to resolve here by DNS
rebinding cannot read or change it; with a key, or on /health and /ready, any Host is answered."""

from __future__ import annotations

import httpx
import pytest

from .conftest import RunningServer, ServerFactory

STATE = "/api/v1/balancer_desired_state"


def _port(server: RunningServer) -> str:
    return server.management_url.rsplit(":", 1)[1]


@pytest.mark.parametrize(
    "host", ["rebound.example", "rebound.example:{port}", "127.0.0.1.rebound.example", "localhost.evil"]
)
def test_a_foreign_host_is_refused_without_a_key(server: RunningServer, host: str) -> None:
    headers = {"Host": host.format(port=_port(server))}
    response = httpx.get(server.management_url + "/api/v1/agents", headers=headers)
    assert response.status_code == 421
    state = httpx.get(server.management_url + STATE).json()
    assert httpx.put(server.management_url + STATE, json=state, headers=headers).status_code == 421
    assert httpx.get(server.management_url + "/health", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "10.1.2.3:{port}"]
)
def test_loopback_names_and_addresses_are_answered(server: RunningServer, host: str) -> None:
    response = httpx.get(server.management_url + "/api/v1/agents", headers={"Host": host.format(port=_port(server))})
    assert response.status_code == 200


def test_a_configured_name_is_answered(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1", "--management-allowed-host", "paddler.internal")
    agents = server.management_url + "/api/v1/agents"
    assert httpx.get(agents, headers={"Host": f"paddler.internal:{_port(server)}"}).status_code == 200
    assert httpx.get(agents, headers={"Host": "other.internal"}).status_code == 421


def test_with_a_key_any_host_is_answered(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1", "--management-api-key", "secret")
    headers = {"Host": "rebound.example", "Authorization": "Bearer secret"}
    assert httpx.get(server.management_url + "/api/v1/agents", headers=headers).status_code == 200
