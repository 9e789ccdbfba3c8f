"""Optional API keys (separate per service, constant-time) and CORS allow-lists, on every route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from paddler.web.create_app import create_inference_app, create_management_app
from paddler.web.shared.access_control import PUBLIC_PATHS
from paddler.web.shared.paddler_services import PaddlerServices

from .conftest import RunningServer, openai_client, start_server, stop_server

INFERENCE_KEY = "inference-secret"
MANAGEMENT_KEY = "management-secret"
ORIGIN = "http://example.com"


@pytest.fixture(scope="module")
def guarded(default_model_path: Path) -> Iterator[RunningServer]:
    running = start_server(
        default_model_path,
        "--slots",
        "1",
        "--inference-api-key",
        INFERENCE_KEY,
        "--management-api-key",
        MANAGEMENT_KEY,
        "--inference-cors-allowed-origin",
        ORIGIN,
        "--management-cors-allowed-origin",
        ORIGIN,
    )
    yield running
    stop_server(running)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _routes(create_app: Any) -> list[tuple[str, str]]:
    """Every (method, path) a service serves, read from its URL map so no new route is forgotten."""
    app = create_app(PaddlerServices(cast(Any, None)))
    routes: list[tuple[str, str]] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<agent_id>", "some-agent").replace("<path:model_id>", "some-model")
        routes.extend((method, path) for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
    return routes


@pytest.mark.parametrize(
    ("service", "create_app"), [("inference", create_inference_app), ("management", create_management_app)]
)
def test_every_route_but_health_and_ready_needs_the_key(guarded: RunningServer, service: str, create_app: Any) -> None:
    base = guarded.inference_url if service == "inference" else guarded.management_url
    routes = _routes(create_app)
    assert len(routes) >= 4
    for method, path in routes:
        response = httpx.request(method, base + path, timeout=10)
        if path in PUBLIC_PATHS:
            assert response.status_code in (200, 503), path
        else:
            assert response.status_code == 401, (method, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            if path.startswith("/v1/"):
                assert response.json()["error"]["type"] == "authentication_error", path
            else:
                assert response.headers["Content-Type"].startswith("text/plain"), path


def test_keys_are_checked_and_scoped(guarded: RunningServer) -> None:
    prompt = guarded.inference_url + "/api/v1/continue_from_raw_prompt"
    body = {"raw_prompt": "Hi", "max_tokens": 2}
    assert httpx.post(prompt, json=body, headers=_bearer("wrong")).status_code == 401
    assert httpx.post(prompt, json=body, headers=_bearer(INFERENCE_KEY + "x")).status_code == 401
    assert httpx.post(prompt, json=body, headers={"Authorization": INFERENCE_KEY}).status_code == 401
    assert httpx.post(prompt, params={"key": INFERENCE_KEY}, json=body).status_code == 401
    assert httpx.post(prompt, json=body, headers=_bearer(MANAGEMENT_KEY)).status_code == 403
    assert httpx.post(prompt, json=body, headers=_bearer(INFERENCE_KEY), timeout=60).status_code == 200
    agents = guarded.management_url + "/api/v1/agents"
    assert httpx.get(agents, headers=_bearer(INFERENCE_KEY)).status_code == 403
    assert httpx.get(agents, headers=_bearer(MANAGEMENT_KEY)).status_code == 200
    assert httpx.get(guarded.management_url + "/metrics").status_code == 401


def test_the_websocket_upgrade_needs_the_key(guarded: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(guarded.socket_url)
    assert refused.value.response.status_code == 401
    with connect(guarded.socket_url, additional_headers=_bearer(INFERENCE_KEY)) as ws:
        ws.send('{"Notification":{"StopRespondingTo":"nothing"}}')


def test_cors_preflight_and_origins(guarded: RunningServer) -> None:
    for base in (guarded.inference_url, guarded.management_url):
        preflight = httpx.options(base + "/health", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
        refused = httpx.get(base + "/health", headers={"Origin": "http://evil.example"})
        assert refused.status_code == 400
        assert "Access-Control-Allow-Origin" not in refused.headers
        allowed = httpx.get(base + "/health", headers={"Origin": ORIGIN})
        assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_the_openai_client_sees_authentication_errors(guarded: RunningServer) -> None:
    def client(key: str) -> openai.OpenAI:
        return openai_client(guarded.inference_url, key)

    with pytest.raises(openai.AuthenticationError) as refused:
        client("wrong").models.list()
    assert refused.value.body is not None
    assert "API key" in str(refused.value)
    with pytest.raises(openai.PermissionDeniedError):
        client(MANAGEMENT_KEY).models.list()
    assert [model.id for model in client(INFERENCE_KEY).models.list()]
