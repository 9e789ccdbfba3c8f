"""The management API's desired state: read, validated, applied without a restart, persisted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from paddler_client.balancer_desired_state import BalancerDesiredState
from paddler_client.client_management import ClientManagement

from .conftest import RunningServer, ServerFactory, stop_server, wait_for

STATE = "/api/v1/balancer_desired_state"


def _put(server: RunningServer, state: dict[str, Any]) -> httpx.Response:
    return httpx.put(server.management_url + STATE, json=state)


def test_the_current_state_describes_the_served_model(server: RunningServer, default_model_path: Path) -> None:
    state = server.desired_state()
    assert state["model"] == {"LocalToAgent": str(default_model_path)}
    assert state["multimodal_projection"] == "None"
    assert state["inference_parameters"]["temperature"] == 0
    assert state["inference_parameters"]["context_size"] == 4096
    applicable = httpx.get(server.management_url + "/api/v1/balancer_applicable_state").json()
    assert "use_chat_template_override" not in applicable
    assert applicable["chat_template_override"] is None


def test_paddler_client_reads_and_puts_the_state(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1")

    async def scenario() -> BalancerDesiredState:
        management = ClientManagement(server.management_url)
        state = await management.get_balancer_desired_state()
        changed = state.model_copy(
            update={"inference_parameters": state.inference_parameters.model_copy(update={"temperature": 0.25})}
        )
        await management.put_balancer_desired_state(changed)
        return await management.get_balancer_desired_state()

    after = asyncio.run(scenario())
    assert after.inference_parameters.temperature == 0.25
    assert wait_for(lambda: server.agent()["state_application_status"] == "Applied")


def test_bad_states_are_refused_with_their_reason(server: RunningServer, tmp_path: Path) -> None:
    state = server.desired_state()
    missing = {
        **state,
        "inference_parameters": {key: value for key, value in state["inference_parameters"].items() if key != "top_k"},
    }
    assert _put(server, missing).status_code == 400
    zero_resize = {**state, "inference_parameters": {**state["inference_parameters"], "image_resize_to_fit": 0}}
    response = _put(server, zero_resize)
    assert (response.status_code, response.text) == (400, "image_resize_to_fit must be greater than zero")
    assert _put(server, {**state, "extra": 1}).status_code == 400
    outside = tmp_path / "elsewhere.gguf"
    outside.write_bytes(b"GGUF")
    assert _put(server, {**state, "model": {"LocalToAgent": str(outside)}}).status_code == 403
    escape = str(Path(state["model"]["LocalToAgent"]).parent / ".." / ".." / "etc" / "passwd")
    assert _put(server, {**state, "model": {"LocalToAgent": escape}}).status_code == 403
    absent = str(Path(state["model"]["LocalToAgent"]).parent / "absent.gguf")
    assert _put(server, {**state, "model": {"LocalToAgent": absent}}).status_code == 404
    assert _put(server, {**state, "model": "None"}).status_code == 400
    assert _put(server, {**state, "model": {"Url": {"url": "file:///etc/passwd"}}}).status_code == 400
    bad_template = {**state, "use_chat_template_override": True, "chat_template_override": {"content": "{% if %}"}}
    assert _put(server, bad_template).status_code == 400
    assert server.desired_state() == state


def test_a_reloading_change_swaps_the_engine_while_a_request_finishes(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "2", "--temperature", "0")
    body = {
        "raw_prompt": "Say yes or no:",
        "max_tokens": 40,
        "grammar": {"type": "gbnf", "grammar": 'root ::= " yes, " [a-z]{1,3} " " [a-z ]{20,30} "."', "root": "root"},
    }
    with httpx.stream(
        "POST", server.inference_url + "/api/v1/continue_from_raw_prompt", json=body, timeout=60
    ) as running:
        lines = running.iter_lines()
        first = next(lines)
        state = server.desired_state()
        state["inference_parameters"]["context_size"] = 2048
        assert _put(server, state).status_code == 204
        rest = list(lines)
    messages = [json.loads(line) for line in [first, *rest]]
    assert "Done" in messages[-1]["Response"]["response"]["GeneratedToken"], "the in-flight request completed"
    assert wait_for(lambda: server.desired_state()["inference_parameters"]["context_size"] == 2048)
    assert wait_for(lambda: server.agent()["state_application_status"] == "Applied", timeout=30)
    response = httpx.post(
        server.inference_url + "/api/v1/continue_from_raw_prompt",
        json={"raw_prompt": "Hello", "max_tokens": 3000},
        timeout=60,
    )
    assert response.status_code == 400, "the new 2048-token context is in force"


def test_a_model_that_cannot_load_is_reported_and_the_old_one_keeps_serving(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    server = server_factory("--slots", "1", "--allowed-model-dir", str(tmp_path))
    state = server.desired_state()
    served = state["model"]
    assert _put(server, {**state, "model": {"LocalToAgent": str(broken)}}).status_code == 204
    assert wait_for(lambda: server.agent()["issues"] != [], timeout=30)
    assert server.agent()["issues"] == [{"ModelCannotBeLoaded": {"model_path": str(broken)}}]
    assert wait_for(lambda: httpx.get(server.inference_url + "/ready").status_code == 200, timeout=30)
    assert server.agent()["model_path"] == served["LocalToAgent"]
    response = httpx.post(
        server.inference_url + "/api/v1/continue_from_raw_prompt",
        json={"raw_prompt": "Hello", "max_tokens": 2},
        timeout=60,
    )
    assert "Done" in response.text.splitlines()[-1]


def test_the_state_file_brings_a_restart_back_the_same(server_factory: ServerFactory, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    first = server_factory("--slots", "1", "--state-file", str(state_file))
    state = first.desired_state()
    state["inference_parameters"]["top_k"] = 7
    state["use_chat_template_override"] = True
    state["chat_template_override"] = {"content": "{% for m in messages %}{{ m.content }}{% endfor %}"}
    assert _put(first, state).status_code == 204
    assert wait_for(
        lambda: state_file.exists() and json.loads(state_file.read_text())["inference_parameters"]["top_k"] == 7
    )
    stop_server(first)
    second = server_factory("--slots", "1", "--state-file", str(state_file))
    restored = second.desired_state()
    assert restored["inference_parameters"]["top_k"] == 7
    assert restored["chat_template_override"] == state["chat_template_override"]
    assert second.agent()["uses_chat_template_override"] is True
