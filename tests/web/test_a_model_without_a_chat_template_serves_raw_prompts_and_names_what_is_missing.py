"""A GGUF without tokenizer.chat_template (a copy of the default model with the key removed): it loads and
serves raw prompts and embeddings, every conversation route says the template is missing, the agent
reports Paddler's UnableToFindChatTemplate, and a desired state's template override makes conversations
work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.tiny_gguf import write_without_chat_template

from .conftest import RunningServer, start_server, stop_server, wait_for

HISTORY = {
    "add_generation_prompt": True,
    "enable_thinking": False,
    "max_tokens": 4,
    "conversation_history": [{"role": "user", "content": "Hi"}],
}
CHAT = {"model": "agent-1", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture(scope="module")
def untemplated(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    model = write_without_chat_template(default_model_path, tmp_path_factory.mktemp("models") / "no-template.gguf")
    running = start_server(model, "--slots", "2")
    yield running
    stop_server(running)


def test_raw_prompts_and_completions_are_served(untemplated: RunningServer) -> None:
    raw = {"raw_prompt": "The capital of France is", "max_tokens": 4}
    lines = _lines(httpx.post(untemplated.inference_url + "/api/v1/continue_from_raw_prompt", json=raw, timeout=60))
    assert "Done" in lines[-1]["Response"]["response"]["GeneratedToken"]
    completion = httpx.post(untemplated.inference_url + "/v1/completions", json={**CHAT, "prompt": "Hello"}, timeout=60)
    assert completion.status_code == 200
    assert completion.json()["usage"]["completion_tokens"] > 0


def test_every_conversation_route_names_the_missing_template(untemplated: RunningServer) -> None:
    history = httpx.post(
        untemplated.inference_url + "/api/v1/continue_from_conversation_history", json=HISTORY, timeout=60
    )
    (line,) = _lines(history)
    assert "tokenizer.chat_template" in line["Response"]["response"]["GeneratedToken"]["ChatTemplateError"]
    for path in ("/v1/chat/completions", "/apply-template"):
        refused = httpx.post(untemplated.inference_url + path, json=CHAT, timeout=60)
        assert refused.status_code == 400, path
        assert refused.json()["error"]["code"] == "chat_template_missing"
        assert "tokenizer.chat_template" in refused.json()["error"]["message"]
    issues = untemplated.agent()["issues"]
    assert issues == [{"UnableToFindChatTemplate": {"model_path": issues[0]["UnableToFindChatTemplate"]["model_path"]}}]
    assert issues[0]["UnableToFindChatTemplate"]["model_path"].endswith("no-template.gguf")


def test_a_desired_state_template_makes_conversations_work(untemplated: RunningServer) -> None:
    state = untemplated.desired_state()
    state["use_chat_template_override"] = True
    state["chat_template_override"] = {
        "content": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    }
    put = httpx.put(untemplated.management_url + "/api/v1/balancer_desired_state", json=state, timeout=30)
    assert put.status_code == 204
    assert wait_for(lambda: untemplated.agent()["state_application_status"] == "Applied", timeout=60)
    assert wait_for(lambda: httpx.get(untemplated.inference_url + "/ready").status_code == 200, timeout=60)
    chat = httpx.post(untemplated.inference_url + "/v1/chat/completions", json=CHAT, timeout=60)
    assert chat.status_code == 200
    assert chat.json()["usage"]["completion_tokens"] > 0
    assert untemplated.agent()["issues"] == []
