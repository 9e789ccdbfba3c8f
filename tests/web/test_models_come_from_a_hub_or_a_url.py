"""Desired-state models from Hugging Face (huggingface_hub against a local stand-in hub set through
HF_ENDPOINT) and from a URL, each loaded without a restart; a missing one is an agent issue."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, Response, abort, send_file
from werkzeug.serving import make_server

from .conftest import RunningServer, ServerFactory, wait_for

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _stand_in_hub(model: Path) -> Flask:
    """Just enough of the Hub's file API for hf_hub_download: HEAD with commit and ETag, then GET."""
    app = Flask("stand-in-hub")
    etag = hashlib.sha256(model.read_bytes()).hexdigest()

    @app.route("/<organization>/<repository>/resolve/<revision>/<filename>", methods=["GET", "HEAD"])
    def resolve(organization: str, repository: str, revision: str, filename: str) -> Response:
        if (organization, repository, filename) != ("paddler", "smollm2", "model.gguf"):
            abort(404)
        response = send_file(model, mimetype="application/octet-stream", conditional=True, etag=False)
        response.headers["ETag"] = f'"{etag}"'
        response.headers["X-Repo-Commit"] = COMMIT
        return response

    @app.get("/files/<filename>")
    def plain_file(filename: str) -> Response:
        if filename != "model.gguf":
            abort(404)
        return send_file(model, mimetype="application/octet-stream")

    return app


@pytest.fixture(scope="module")
def hub(default_model_path: Path) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _stand_in_hub(default_model_path), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()


def _agent(server: RunningServer) -> dict[str, Any]:
    agent: dict[str, Any] = httpx.get(server.management_url + "/api/v1/agents").json()["agents"][0]
    return agent


def _put_model(server: RunningServer, model: dict[str, Any]) -> None:
    state = httpx.get(server.management_url + "/api/v1/balancer_desired_state").json()
    response = httpx.put(server.management_url + "/api/v1/balancer_desired_state", json={**state, "model": model})
    assert response.status_code == 204


def _generates(server: RunningServer) -> bool:
    response = httpx.post(
        server.inference_url + "/api/v1/continue_from_raw_prompt",
        json={"raw_prompt": "Hello", "max_tokens": 2},
        timeout=60,
    )
    return "Done" in response.text.splitlines()[-1]


@pytest.fixture
def hub_server(server_factory: ServerFactory, hub: str, tmp_path: Path) -> RunningServer:
    return server_factory(
        "--slots",
        "1",
        environment={
            "HF_ENDPOINT": hub,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "PADDLER_CACHE_DIR": str(tmp_path / "cache"),
        },
    )


def test_a_hugging_face_model_is_downloaded_and_served(hub_server: RunningServer) -> None:
    _put_model(
        hub_server, {"HuggingFace": {"repo_id": "paddler/smollm2", "filename": "model.gguf", "revision": "main"}}
    )
    assert wait_for(lambda: "models--paddler--smollm2" in (_agent(hub_server)["model_path"] or ""), timeout=60)
    assert _agent(hub_server)["issues"] == []
    assert _generates(hub_server)


def test_a_missing_hugging_face_model_is_an_issue_and_the_old_model_serves(hub_server: RunningServer) -> None:
    served = _agent(hub_server)["model_path"]
    _put_model(hub_server, {"HuggingFace": {"repo_id": "paddler/absent", "filename": "model.gguf", "revision": "main"}})
    assert wait_for(lambda: _agent(hub_server)["issues"] != [], timeout=30)
    assert _agent(hub_server)["issues"] == [
        {"HuggingFaceModelDoesNotExist": {"model_path": "paddler/absent/main/model.gguf"}}
    ]
    assert _agent(hub_server)["model_path"] == served
    assert _generates(hub_server)


def test_a_url_model_is_downloaded_into_the_cache(hub_server: RunningServer, hub: str, tmp_path: Path) -> None:
    _put_model(hub_server, {"Url": {"url": f"{hub}/files/model.gguf"}})
    assert wait_for(lambda: "downloaded-models" in (_agent(hub_server)["model_path"] or ""), timeout=60)
    assert Path(_agent(hub_server)["model_path"]).is_relative_to(tmp_path / "cache")
    assert _generates(hub_server)
    _put_model(hub_server, {"Url": {"url": f"{hub}/files/absent.gguf"}})
    assert wait_for(lambda: _agent(hub_server)["issues"] != [], timeout=30)
    assert _agent(hub_server)["issues"] == [{"ModelDoesNotExistAtUrl": {"model_path": f"{hub}/files/absent.gguf"}}]
