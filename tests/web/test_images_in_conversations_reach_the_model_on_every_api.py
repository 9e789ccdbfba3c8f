"""Images in conversations over the wire, on a server started with --mmproj (the default model and a tiny
random projector: the words are noise, the path is real): OpenAI chat (streamed and not) and Responses,
Paddler's conversation history over HTTP and the WebSocket. Every bad image is a 400 in the API's own
error shape; a server without a projector still says it reads no images; /props and the agent's
metadata say which it is."""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy
import pytest
from PIL import Image
from websockets.sync.client import connect

from .conftest import RunningServer, ServerFactory, openai_client, start_server, stop_server, wait_for

IMAGE_TOKENS = 4


def image_uri(image_format: str = "PNG", colour: tuple[int, int, int] = (200, 40, 40), size: int = 60) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size // 2), colour).save(buffer, format=image_format)
    return f"data:image/{image_format.lower()};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def bomb_uri() -> str:
    buffer = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buffer, format="PNG", optimize=True)
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"


BAD_IMAGES = {
    "corrupt": "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x01" * 64).decode(),
    "wrong type": "data:image/bmp;base64," + base64.b64encode(b"BM" + b"\x00" * 64).decode(),
    "not base64": "data:image/png;base64,@@@@",
    "remote": "https://example.invalid/cat.png",
    "bomb": bomb_uri(),
}


def chat_body(url: str, **extra: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": "agent-1", "max_tokens": 6, "messages": [{"role": "user", "content": content}], **extra}


def history_body(url: str) -> dict[str, Any]:
    content = [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": url}}]
    return {
        "add_generation_prompt": True,
        "enable_thinking": False,
        "max_tokens": 6,
        "conversation_history": [{"role": "user", "content": content}],
    }


def last_response(response: httpx.Response) -> dict[str, Any]:
    lines = [json.loads(line) for line in response.text.splitlines()]
    token: dict[str, Any] = lines[-1]["Response"]["response"]["GeneratedToken"]
    return token


@pytest.fixture(scope="module")
def seeing(default_model_path: Path, tiny_projector_path: Path) -> Iterator[RunningServer]:
    running = start_server(default_model_path, "--slots", "2", "--mmproj", str(tiny_projector_path))
    yield running
    stop_server(running)


def test_openai_chat_reads_each_image_format_and_counts_its_tokens(seeing: RunningServer) -> None:
    text_only = httpx.post(
        seeing.inference_url + "/v1/chat/completions",
        json={
            "model": "agent-1",
            "max_tokens": 6,
            "messages": [{"role": "user", "content": "What is in this picture?"}],
        },
        timeout=60,
    ).json()["usage"]["prompt_tokens"]
    for image_format in ("PNG", "JPEG", "WEBP", "GIF"):
        answer = httpx.post(
            seeing.inference_url + "/v1/chat/completions", json=chat_body(image_uri(image_format)), timeout=60
        )
        assert answer.status_code == 200, answer.text
        usage = answer.json()["usage"]
        assert usage["prompt_tokens"] >= text_only + IMAGE_TOKENS, image_format
        assert usage["completion_tokens"] > 0


def test_openai_chat_streams_with_an_image_and_the_next_turn_reuses_it(seeing: RunningServer) -> None:
    client = openai_client(seeing.inference_url)
    messages: list[Any] = chat_body(image_uri(colour=(10, 200, 10)))["messages"]
    chunks = list(
        client.chat.completions.create(
            model="agent-1", messages=messages, max_tokens=6, stream=True, stream_options={"include_usage": True}
        )
    )
    first_usage = chunks[-1].usage
    assert first_usage is not None
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    follow_up = [*messages, {"role": "assistant", "content": text}, {"role": "user", "content": "And?"}]
    again = client.chat.completions.create(model="agent-1", messages=follow_up, max_tokens=4)
    assert again.usage is not None
    assert again.usage.prompt_tokens_details is not None
    assert (again.usage.prompt_tokens_details.cached_tokens or 0) >= first_usage.prompt_tokens - 1


def test_openai_responses_reads_an_input_image(seeing: RunningServer) -> None:
    body = {
        "model": "agent-1",
        "max_output_tokens": 6,
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is it?"},
                    {"type": "input_image", "image_url": image_uri()},
                ],
            }
        ],
    }
    answer = httpx.post(seeing.inference_url + "/v1/responses", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["usage"]["input_tokens"] > IMAGE_TOKENS


def test_paddler_history_reads_images_over_http_and_the_websocket(seeing: RunningServer) -> None:
    answer = httpx.post(
        seeing.inference_url + "/api/v1/continue_from_conversation_history", json=history_body(image_uri()), timeout=60
    )
    done = last_response(answer)["Done"]
    assert done["usage"]["input_image_tokens"] == IMAGE_TOKENS
    request = {
        "Request": {"id": "look-1", "request": {"ContinueFromConversationHistory": history_body(image_uri("JPEG"))}}
    }
    with connect(seeing.socket_url) as socket:
        socket.send(json.dumps(request))
        while True:
            token = json.loads(socket.recv(timeout=60))["Response"]["response"]["GeneratedToken"]
            if "Done" in token:
                break
    assert token["Done"]["usage"]["input_image_tokens"] == IMAGE_TOKENS


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_every_bad_image_is_a_400_in_each_apis_shape(seeing: RunningServer, kind: str) -> None:
    url = BAD_IMAGES[kind]
    chat = httpx.post(seeing.inference_url + "/v1/chat/completions", json=chat_body(url), timeout=60)
    assert chat.status_code == 400, (kind, chat.text)
    assert chat.json()["error"]["code"] == "invalid_image"
    assert chat.json()["error"]["param"] == "messages[0]"
    history = httpx.post(
        seeing.inference_url + "/api/v1/continue_from_conversation_history", json=history_body(url), timeout=60
    )
    assert history.status_code == 400, (kind, history.text)
    assert "failed to decode images" in history.text
    request = {"Request": {"id": "bad-1", "request": {"ContinueFromConversationHistory": history_body(url)}}}
    with connect(seeing.socket_url) as socket:
        socket.send(json.dumps(request))
        error = json.loads(socket.recv(timeout=60))["Error"]
    assert error["request_id"] == "bad-1"
    assert error["error"]["code"] == 400
    assert "failed to decode images" in error["error"]["description"]


def test_props_and_the_agents_metadata_say_images_are_read(seeing: RunningServer) -> None:
    assert httpx.get(seeing.inference_url + "/props").json()["modalities"] == {"vision": True, "audio": False}
    agent_id = seeing.agent()["id"]
    metadata = httpx.get(f"{seeing.management_url}/api/v1/agent/{agent_id}/model_metadata").json()["metadata"]
    assert metadata["paddler.supports_images"] == "true"
    state = seeing.desired_state()
    assert state["multimodal_projection"]["LocalToAgent"].endswith("tiny-mmproj.gguf")
    # The state as reported is accepted back (its projector's folder is allowed), with no reload.
    assert httpx.put(seeing.management_url + "/api/v1/balancer_desired_state", json=state).status_code == 204


def noise_uri(side: int) -> str:
    """A PNG of random pixels: it does not compress, so its data URI is about 4 * side * side bytes."""
    pixels = numpy.random.default_rng(side).integers(0, 256, size=(side, side, 3), dtype=numpy.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"


def test_a_photo_larger_than_the_text_body_bound_is_read_where_images_are(
    seeing: RunningServer, server: RunningServer
) -> None:
    body = chat_body(noise_uri(1000))
    assert len(json.dumps(body)) > 3 * 1024 * 1024
    read = httpx.post(seeing.inference_url + "/v1/chat/completions", json=body, timeout=120)
    assert read.status_code == 200, read.text
    assert read.json()["usage"]["prompt_tokens"] > IMAGE_TOKENS
    # A server that reads no images keeps the 2 MiB bound for its text requests.
    refused = httpx.post(server.inference_url + "/v1/chat/completions", json=body, timeout=60)
    assert refused.status_code == 413


def test_a_server_without_a_projector_still_reads_no_images(server: RunningServer) -> None:
    assert httpx.get(server.inference_url + "/props").json()["modalities"]["vision"] is False
    chat = httpx.post(server.inference_url + "/v1/chat/completions", json=chat_body(image_uri()), timeout=60)
    assert chat.status_code == 400
    assert "reads text only" in chat.json()["error"]["message"]
    history = httpx.post(
        server.inference_url + "/api/v1/continue_from_conversation_history", json=history_body(image_uri()), timeout=60
    )
    assert "MultimodalNotSupported" in last_response(history)


def test_a_desired_state_adds_and_removes_the_projector(
    server_factory: ServerFactory, tiny_projector_path: Path, default_model_path: Path
) -> None:
    server = server_factory("--slots", "1", "--allowed-model-dir", str(tiny_projector_path.parent))
    state = server.desired_state()

    def vision() -> bool:
        props = httpx.get(server.inference_url + "/props").json()
        return bool(props["modalities"]["vision"]) and props["state"] == "ready"

    projected = {**state, "multimodal_projection": {"LocalToAgent": str(tiny_projector_path)}}
    assert httpx.put(server.management_url + "/api/v1/balancer_desired_state", json=projected).status_code == 204
    assert wait_for(vision, timeout=60)
    answer = httpx.post(server.inference_url + "/v1/chat/completions", json=chat_body(image_uri()), timeout=60)
    assert answer.status_code == 200, answer.text
    # A GGUF that is not a projector: the agent says so and keeps serving what it had.
    foreign = {**state, "multimodal_projection": {"LocalToAgent": str(default_model_path)}}
    assert httpx.put(server.management_url + "/api/v1/balancer_desired_state", json=foreign).status_code == 204
    expected = {"MultimodalProjectionCannotBeLoaded": {"model_path": str(default_model_path)}}
    assert wait_for(lambda: expected in server.agent()["issues"], timeout=60)
    assert httpx.put(server.management_url + "/api/v1/balancer_desired_state", json=state).status_code == 204
    assert wait_for(lambda: not vision() and server.agent()["state_application_status"] == "Applied", timeout=60)


def test_apply_template_shows_each_image_as_llama_cpps_media_marker(seeing: RunningServer) -> None:
    rendered = httpx.post(seeing.inference_url + "/apply-template", json=chat_body(image_uri()), timeout=60)
    assert rendered.status_code == 200, rendered.text
    assert "What is in this picture?<__media__>" in rendered.json()["prompt"]
    bad = httpx.post(seeing.inference_url + "/apply-template", json=chat_body(BAD_IMAGES["corrupt"]), timeout=60)
    assert bad.status_code == 400


def test_a_projector_comes_from_a_url_as_models_do(
    server_factory: ServerFactory, tiny_projector_path: Path, tmp_path: Path
) -> None:
    files = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tiny_projector_path.parent)),
    )
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        server = server_factory("--slots", "1", environment={"PADDLER_CACHE_DIR": str(tmp_path / "cache")})
        state = server.desired_state()
        url = f"http://127.0.0.1:{files.server_address[1]}/{tiny_projector_path.name}"
        projected = {**state, "multimodal_projection": {"Url": {"url": url}}}
        assert httpx.put(server.management_url + "/api/v1/balancer_desired_state", json=projected).status_code == 204
        assert wait_for(lambda: httpx.get(server.inference_url + "/props").json()["modalities"]["vision"], timeout=60)
        answer = httpx.post(server.inference_url + "/v1/chat/completions", json=chat_body(image_uri()), timeout=60)
        assert answer.status_code == 200, answer.text
        assert any((tmp_path / "cache").rglob("*")), "the projector was downloaded into the cache"
    finally:
        files.shutdown()
