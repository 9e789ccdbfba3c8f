"""A desired state is checked before it is saved; one that fails while applying becomes an agent issue;
and a saved state that cannot be applied at start leaves the command line's model serving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import RunningServer, ServerFactory, wait_for

STATE = "/api/v1/balancer_desired_state"


def _generates(server: RunningServer) -> bool:
    response = httpx.post(
        server.inference_url + "/api/v1/continue_from_raw_prompt",
        json={"raw_prompt": "Hello", "max_tokens": 2},
        timeout=60,
    )
    return response.status_code == 200 and "Done" in response.text.splitlines()[-1]


def _reference(**changes: str) -> dict[str, Any]:
    return {"HuggingFace": {"repo_id": "paddler/smollm2", "filename": "model.gguf", "revision": "main", **changes}}


@pytest.mark.parametrize(
    "model",
    [
        _reference(repo_id="a/b/c"),
        _reference(repo_id="a b"),
        _reference(repo_id="../secrets"),
        _reference(filename="../../x"),
        _reference(filename="/etc/passwd"),
        _reference(revision="../../refs"),
        {"Url": {"url": "ftp://example.com/model.gguf"}},
    ],
)
def test_a_reference_that_can_never_name_a_file_is_refused_and_not_saved(
    server_factory: ServerFactory, tmp_path: Path, model: dict[str, Any]
) -> None:
    state_file = tmp_path / "state.json"
    server = server_factory("--slots", "1", "--state-file", str(state_file))
    state = server.desired_state()
    response = httpx.put(server.management_url + STATE, json={**state, "model": model})
    assert response.status_code == 400, response.text
    assert not state_file.exists(), "nothing is saved for a refused state"
    assert server.desired_state() == state
    assert server.agent()["state_application_status"] == "Applied"
    assert server.agent()["issues"] == []


def test_a_file_that_is_not_gguf_is_refused(server: RunningServer, tmp_path: Path) -> None:
    state = server.desired_state()
    not_gguf = Path(state["model"]["LocalToAgent"]).parent / "paddler-test-not-a-model.gguf"
    not_gguf.write_text("not a model")
    try:
        response = httpx.put(server.management_url + STATE, json={**state, "model": {"LocalToAgent": str(not_gguf)}})
    finally:
        not_gguf.unlink()
    assert (response.status_code, response.text) == (400, "model file is not a GGUF file")


def test_a_model_deleted_before_its_state_applies_is_an_issue(server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory("--slots", "1", "--allowed-model-dir", str(tmp_path))
    state = server.desired_state()
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(state["model"]["LocalToAgent"], copy)
    # The first state reloads the engine; the second waits its turn, and its file is gone by then.
    reload = {**state, "inference_parameters": {**state["inference_parameters"], "context_size": 2048}}
    assert httpx.put(server.management_url + STATE, json=reload).status_code == 204
    assert (
        httpx.put(server.management_url + STATE, json={**state, "model": {"LocalToAgent": str(copy)}}).status_code
        == 204
    )
    copy.unlink()
    assert wait_for(lambda: server.agent()["state_application_status"] == "Stuck", timeout=30)
    assert server.agent()["issues"] == [{"ModelFileDoesNotExist": {"model_path": str(copy)}}]
    assert _generates(server)


def _saved_state(default_model_path: Path, model: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "chat_template_override": None,
        "inference_parameters": {
            "n_batch": 512,
            "context_size": 2048,
            "embedding_batch_size": 256,
            "enable_embeddings": False,
            "image_resize_to_fit": 1024,
            "k_cache_dtype": "Q8_0",
            "v_cache_dtype": "Q8_0",
            "min_p": 0.05,
            "n_gpu_layers": 0,
            "penalty_frequency": 0.0,
            "penalty_last_n": -1,
            "penalty_presence": 0.0,
            "penalty_repeat": 1.0,
            "pooling_type": "Last",
            "temperature": 0.0,
            "top_k": 40,
            "top_p": 1.0,
        },
        "model": model or {"LocalToAgent": str(default_model_path)},
        "multimodal_projection": "None",
        "use_chat_template_override": False,
    }


def test_a_start_with_a_saved_state_naming_a_deleted_model_serves_the_command_line_model(
    server_factory: ServerFactory, default_model_path: Path, tmp_path: Path
) -> None:
    deleted = tmp_path / "deleted.gguf"
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(_saved_state(default_model_path, {"LocalToAgent": str(deleted)})))
    server = server_factory("--slots", "1", "--state-file", str(state_file), "--allowed-model-dir", str(tmp_path))
    agent = server.agent()
    assert agent["model_path"] == str(default_model_path)
    assert agent["issues"] == [{"ModelFileDoesNotExist": {"model_path": str(deleted)}}]
    assert agent["state_application_status"] == "Stuck"
    assert _generates(server)
    assert "the saved desired state cannot be applied" in server.log.read_text()


@pytest.mark.parametrize(
    ("model", "issue"),
    [
        (_reference(repo_id="a/b/c"), "HuggingFaceModelDoesNotExist"),
        (_reference(filename="../../x"), "HuggingFaceModelDoesNotExist"),
        ({"Url": {"url": "file:///etc/passwd"}}, "DownloadUrlIsMalformed"),
    ],
)
def test_a_start_with_a_saved_state_this_server_refuses_serves_the_command_line_model(
    server_factory: ServerFactory, default_model_path: Path, tmp_path: Path, model: dict[str, Any], issue: str
) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(_saved_state(default_model_path, model)))
    server = server_factory("--slots", "1", "--state-file", str(state_file))
    agent = server.agent()
    assert agent["model_path"] == str(default_model_path)
    assert [next(iter(reported)) for reported in agent["issues"]] == [issue]
    assert _generates(server)


def test_a_start_with_a_saved_state_llama_cpp_refuses_serves_the_command_line_model(
    server_factory: ServerFactory, default_model_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(_saved_state(default_model_path, {"LocalToAgent": str(broken)})))
    server = server_factory("--slots", "1", "--state-file", str(state_file), "--allowed-model-dir", str(tmp_path))
    assert wait_for(lambda: server.agent()["model_path"] == str(default_model_path), timeout=30)
    assert server.agent()["issues"] == [{"ModelCannotBeLoaded": {"model_path": str(broken)}}]
    assert _generates(server)


def test_a_start_with_an_unreadable_state_file_serves_the_command_line_model(
    server_factory: ServerFactory, default_model_path: Path, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text('{"model": ')
    server = server_factory("--slots", "1", "--state-file", str(state_file))
    assert server.agent()["model_path"] == str(default_model_path)
    assert _generates(server)
    assert "cannot read the saved desired state" in server.log.read_text()
