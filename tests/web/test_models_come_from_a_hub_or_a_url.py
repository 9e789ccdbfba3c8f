"""Desired-state models from Hugging Face (huggingface_hub against a local stand-in hub set through
HF_ENDPOINT) and from a URL, each loaded without a restart; a missing one is an agent issue."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, Response, abort, request, send_file
from werkzeug.serving import make_server

from .conftest import RunningServer, ServerFactory, wait_for

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _slowly(model: Path) -> Response:
    """The model in 16 pieces a tenth of a second apart, so a download can be watched."""
    content = model.read_bytes()
    piece = len(content) // 16 + 1

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(content), piece):
            time.sleep(0.1)
            yield content[start : start + piece]

    return Response(pieces(), mimetype="application/octet-stream", headers={"Content-Length": str(len(content))})


def _stand_in_hub(model: Path) -> Flask:
    """Just enough of the Hub's file API for hf_hub_download: HEAD with commit and ETag, then GET."""
    app = Flask("stand-in-hub")
    etag = hashlib.sha256(model.read_bytes()).hexdigest()

    @app.route("/<organization>/<repository>/resolve/<revision>/<filename>", methods=["GET", "HEAD"])
    def resolve(organization: str, repository: str, revision: str, filename: str) -> Response:
        if organization != "paddler" or repository not in ("smollm2", "slow-smollm2") or filename != "model.gguf":
            abort(404)
        if repository == "slow-smollm2" and request.method == "GET":
            response = _slowly(model)
        else:
            response = send_file(model, mimetype="application/octet-stream", conditional=True, etag=False)
        response.headers["ETag"] = f'"{etag}"'
        response.headers["X-Repo-Commit"] = COMMIT
        return response

    @app.get("/files/<filename>")
    def plain_file(filename: str) -> Response:
        if filename != "model.gguf":
            abort(404)
        return send_file(model, mimetype="application/octet-stream")

    @app.get("/redirect")
    def redirect_elsewhere() -> Response:
        target = request.args["to"]
        return Response(status=302, headers={"Location": target})

    @app.get("/slow/<filename>")
    def slow_file(filename: str) -> Response:
        return _slowly(model)

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


@pytest.mark.parametrize("source", ["Url", "HuggingFace"])
def test_download_progress_is_reported_while_a_model_downloads(
    hub_server: RunningServer, hub: str, default_model_path: Path, source: str
) -> None:
    size = default_model_path.stat().st_size
    if source == "Url":
        _put_model(hub_server, {"Url": {"url": f"{hub}/slow/model.gguf"}})
    else:
        _put_model(
            hub_server,
            {"HuggingFace": {"repo_id": "paddler/slow-smollm2", "filename": "model.gguf", "revision": "main"}},
        )

    def midway() -> bool:
        agent = _agent(hub_server)
        return bool(0 < agent["download_current"] < agent["download_total"])

    assert wait_for(midway, timeout=30)
    agent = _agent(hub_server)
    assert agent["download_total"] == size
    assert agent["download_indeterminate"] is False
    assert agent["download_filename"] == "model.gguf"
    downloaded = "downloaded-models" if source == "Url" else "models--paddler--slow-smollm2"
    assert wait_for(lambda: downloaded in (_agent(hub_server)["model_path"] or ""), timeout=60)
    done = _agent(hub_server)
    assert (done["download_current"], done["download_total"], done["download_indeterminate"]) == (0, 0, True)
    assert done["download_filename"] is None


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


@pytest.fixture
def listed_hosts_server(server_factory: ServerFactory, tmp_path: Path) -> RunningServer:
    """A server that downloads URL models from 127.0.0.1 only (the stand-in hub is also `localhost`)."""
    return server_factory(
        "--slots",
        "1",
        "--model-url-hosts",
        "127.0.0.1",
        environment={"PADDLER_CACHE_DIR": str(tmp_path / "cache")},
    )


def test_a_url_to_a_host_off_the_list_is_refused(listed_hosts_server: RunningServer, hub: str) -> None:
    state = httpx.get(listed_hosts_server.management_url + "/api/v1/balancer_desired_state").json()
    elsewhere = f"http://localhost:{_port(hub)}/files/model.gguf"
    response = httpx.put(
        listed_hosts_server.management_url + "/api/v1/balancer_desired_state",
        json={**state, "model": {"Url": {"url": elsewhere}}},
    )
    assert (response.status_code, response.text) == (400, "model URL host 'localhost' is not in --model-url-hosts")


def test_a_redirect_to_a_host_off_the_list_is_not_followed(listed_hosts_server: RunningServer, hub: str) -> None:
    served = _agent(listed_hosts_server)["model_path"]
    elsewhere = f"http://localhost:{_port(hub)}/files/model.gguf"
    redirecting = f"{hub}/redirect?to={elsewhere}"
    _put_model(listed_hosts_server, {"Url": {"url": redirecting}})
    assert wait_for(lambda: _agent(listed_hosts_server)["issues"] != [], timeout=30)
    assert _agent(listed_hosts_server)["issues"] == [{"DownloadServerRejectedRequest": {"model_path": redirecting}}]
    assert _agent(listed_hosts_server)["model_path"] == served


def test_a_redirect_within_the_list_is_followed(listed_hosts_server: RunningServer, hub: str) -> None:
    _put_model(listed_hosts_server, {"Url": {"url": f"{hub}/redirect?to={hub}/files/model.gguf"}})
    assert wait_for(lambda: "downloaded-models" in (_agent(listed_hosts_server)["model_path"] or ""), timeout=60)
    assert _agent(listed_hosts_server)["issues"] == []
    assert _generates(listed_hosts_server)
