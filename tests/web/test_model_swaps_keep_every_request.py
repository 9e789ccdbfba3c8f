"""A model swap loses no request: requests waiting for a slot, and requests that arrive while the old
engine drains, are served by the new engine within the buffer timeout (then a clean 503, never a 500
or a closed WebSocket); the last PUT wins; and the server always comes back to some model that loads."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from .conftest import RunningServer, ServerFactory, start_server, stop_server, wait_for

STATE = "/api/v1/balancer_desired_state"
RAW_PROMPT = "/api/v1/continue_from_raw_prompt"
CONVERSATION = {
    "add_generation_prompt": True,
    "conversation_history": [{"role": "user", "content": "Hi"}],
    "enable_thinking": False,
    "max_tokens": 3,
}


def _with_parameters(state: dict[str, Any], **parameters: Any) -> dict[str, Any]:
    return {**state, "inference_parameters": {**state["inference_parameters"], **parameters}}


def _put(server: RunningServer, state: dict[str, Any]) -> None:
    response = httpx.put(server.management_url + STATE, json=state)
    assert response.status_code == 204, response.text


def _ready(server: RunningServer) -> bool:
    return httpx.get(server.inference_url + "/ready").status_code == 200


def _generate(server: RunningServer, max_tokens: int = 3) -> httpx.Response:
    return httpx.post(
        server.inference_url + RAW_PROMPT, json={"raw_prompt": "Hello", "max_tokens": max_tokens}, timeout=60
    )


def _admission(server: RunningServer, max_tokens: int) -> int:
    """The status a generation is answered with (it is cancelled as soon as it is admitted)."""
    body = {"raw_prompt": "Hello", "max_tokens": max_tokens}
    with httpx.stream("POST", server.inference_url + RAW_PROMPT, json=body, timeout=60) as response:
        return response.status_code


def _done(response: httpx.Response) -> bool:
    last = json.loads(response.text.splitlines()[-1])
    return response.status_code == 200 and "Done" in json.dumps(last)


@contextmanager
def _long_generation(server: RunningServer) -> Iterator[httpx.Response]:
    """A generation that holds its slot until the block ends (leaving cancels it)."""
    body = {"model": "agent-1", "prompt": "Once upon a time", "max_tokens": 3000, "ignore_eos": True, "stream": True}
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", server.inference_url + "/v1/completions", json=body) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        next(lines)
        yield response


def test_requests_waiting_for_a_slot_when_a_swap_starts_are_served_by_the_new_engine(
    server_factory: ServerFactory,
) -> None:
    server = server_factory("--slots", "1", "--buffered-request-timeout", "30000")  # ample on a loaded machine
    answers: list[httpx.Response] = []
    with _long_generation(server):
        waiting = [threading.Thread(target=lambda: answers.append(_generate(server))) for _ in range(2)]
        for thread in waiting:
            thread.start()
        assert wait_for(lambda: server.buffered() == 2)
        _put(server, _with_parameters(server.desired_state(), context_size=2048))
        assert wait_for(lambda: not _ready(server))
    for thread in waiting:
        thread.join(30)
    assert len(answers) == 2
    assert all(_done(answer) for answer in answers), [answer.text for answer in answers]
    assert wait_for(lambda: server.agent()["state_application_status"] == "Applied", timeout=30)


def test_a_request_arriving_during_a_swap_waits_for_the_new_engine(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1", "--buffered-request-timeout", "30000")
    answers: list[httpx.Response] = []
    with _long_generation(server):
        _put(server, _with_parameters(server.desired_state(), context_size=2048))
        assert wait_for(lambda: not _ready(server))
        arriving = threading.Thread(target=lambda: answers.append(_generate(server)))
        arriving.start()
        arriving.join(0.5)
        assert arriving.is_alive(), "it waits while the old engine drains"
    arriving.join(30)
    assert _done(answers[0]), answers[0].text


def _socket_request(request_id: str, variant: dict[str, Any]) -> str:
    return json.dumps({"Request": {"id": request_id, "request": variant}})


def test_a_request_that_outwaits_the_buffer_during_a_swap_is_a_503_and_keeps_its_websocket(
    server_factory: ServerFactory,
) -> None:
    server = server_factory("--slots", "1", "--buffered-request-timeout", "500")
    with connect(server.socket_url) as socket:
        with _long_generation(server):
            _put(server, _with_parameters(server.desired_state(), context_size=2048))
            assert wait_for(lambda: not _ready(server))
            socket.send(_socket_request("during", {"ContinueFromConversationHistory": CONVERSATION}))
            refused = json.loads(socket.recv(timeout=30))
            assert (refused["Error"]["request_id"], refused["Error"]["error"]["code"]) == ("during", 503)
            conversation = httpx.post(
                server.inference_url + "/api/v1/continue_from_conversation_history", json=CONVERSATION, timeout=30
            )
            assert conversation.status_code == 503, conversation.text
            chat = httpx.post(
                server.inference_url + "/v1/chat/completions",
                json={"model": "agent-1", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3},
                timeout=30,
            )
            assert chat.status_code == 503, chat.text
            assert chat.json()["error"]["type"] == "server_error"
            assert not _ready(server), "all of this happened while the old engine drained"
        assert wait_for(lambda: _ready(server), timeout=30)
        socket.send(_socket_request("after", {"ContinueFromRawPrompt": {"raw_prompt": "Hi", "max_tokens": 2}}))
        received: list[dict[str, Any]] = []
        while not any("Done" in json.dumps(message) for message in received):
            received.append(json.loads(socket.recv(timeout=30)))
        assert received[-1]["Response"]["request_id"] == "after", "the same socket serves on"


def test_the_last_put_wins(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1")
    state = server.desired_state()
    sizes = [2048, 3072, 1024, 1536, 1280]
    for top_k, context_size in enumerate(sizes, start=1):
        last = _with_parameters(state, context_size=context_size, top_k=top_k)
        _put(server, last)
    assert server.desired_state() == last, "the desired state is the last one PUT, at once"
    assert wait_for(lambda: server.agent()["state_application_status"] == "Applied" and _ready(server), timeout=60)
    assert _admission(server, max_tokens=1100) == 200, "more than the third state's 1024 tokens"
    assert _admission(server, max_tokens=1300) == 400, "the last state's 1280-token context is in force"


def _link(source: Path, target: Path) -> Path:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def test_when_the_new_and_the_previous_model_fail_the_command_line_model_serves(
    default_model_path: Path, tmp_path: Path
) -> None:
    original = _link(default_model_path, tmp_path / "original.gguf")
    second = _link(default_model_path, tmp_path / "second.gguf")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    server = start_server(original, "--slots", "1")
    try:
        state = server.desired_state()
        _put(server, {**state, "model": {"LocalToAgent": str(second)}})
        assert wait_for(lambda: server.agent()["model_path"] == str(second), timeout=30)
        second.unlink()
        _put(server, {**state, "model": {"LocalToAgent": str(broken)}})
        assert wait_for(lambda: server.agent()["state_application_status"] == "Stuck", timeout=30)
        assert wait_for(lambda: _ready(server), timeout=30)
        assert server.agent()["model_path"] == str(original)
        assert server.agent()["issues"] == [
            {"ModelCannotBeLoaded": {"model_path": str(broken)}},
            {"ModelCannotBeLoaded": {"model_path": str(second)}},
        ]
        assert _done(_generate(server))
    finally:
        stop_server(server)


def test_when_no_model_loads_the_server_keeps_trying_the_command_line_model(
    default_model_path: Path, tmp_path: Path
) -> None:
    original = _link(default_model_path, tmp_path / "original.gguf")
    aside = tmp_path / "aside.gguf"
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    server = start_server(original, "--slots", "1", "--buffered-request-timeout", "500")
    try:
        state = server.desired_state()
        original.rename(aside)
        _put(server, {**state, "model": {"LocalToAgent": str(broken)}})
        assert wait_for(lambda: server.agent()["state_application_status"] == "Stuck", timeout=30)
        assert not _ready(server)
        assert _generate(server).status_code == 503, "refused at once, never hanging"
        aside.rename(original)
        assert wait_for(lambda: _ready(server), timeout=30), "the command line's model came back"
        assert server.agent()["model_path"] == str(original)
        assert _done(_generate(server))
    finally:
        stop_server(server)
