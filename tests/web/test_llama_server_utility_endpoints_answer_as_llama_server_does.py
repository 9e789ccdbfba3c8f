"""llama-server's utility endpoints on the inference address: /tokenize (with pieces), /detokenize,
/apply-template and /props, checked against the model itself and against what a chat completion runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from openai.types.chat import ChatCompletionMessageParam

from paddler.llama import LlamaModel

from .conftest import RunningServer, ServerFactory, openai_client

TEXT = "Hello world, llamas 🦙 say héllo"
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are brief."},
    {"role": "user", "content": "Name a colour."},
]


def _post(server: RunningServer, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(server.inference_url + path, json=body, headers=headers, timeout=30)


def test_tokenize_matches_the_model_and_detokenize_gives_the_text_back(
    server: RunningServer, default_model_path: Path
) -> None:
    tokens = _post(server, "/tokenize", {"content": TEXT}).json()["tokens"]
    with LlamaModel(default_model_path, vocab_only=True) as model:
        assert tokens == model.vocab.tokenize(TEXT, add_special=False, parse_special=True)
        with_bos = _post(server, "/tokenize", {"content": TEXT, "add_special": True}).json()["tokens"]
        assert with_bos == model.vocab.tokenize(TEXT, add_special=True, parse_special=True)
    assert _post(server, "/detokenize", {"tokens": tokens}).json() == {"content": TEXT}


def test_pieces_are_text_or_the_bytes_of_part_of_a_character(server: RunningServer) -> None:
    pieces = _post(server, "/tokenize", {"content": TEXT, "with_pieces": True}).json()["tokens"]
    assert [piece["id"] for piece in pieces] == _post(server, "/tokenize", {"content": TEXT}).json()["tokens"]
    joined = b"".join(
        piece["piece"].encode() if isinstance(piece["piece"], str) else bytes(piece["piece"]) for piece in pieces
    )
    assert joined.decode() == TEXT
    # The llama's four UTF-8 bytes are split over byte tokens by this vocabulary.
    assert any(isinstance(piece["piece"], list) for piece in pieces)


def test_a_token_outside_the_vocabulary_is_a_400_and_a_bad_body_names_its_field(server: RunningServer) -> None:
    refused = _post(server, "/detokenize", {"tokens": [1, 10**9]})
    assert refused.status_code == 400
    assert "not in the vocabulary" in refused.json()["error"]["message"]
    malformed = _post(server, "/tokenize", {"content": 5})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["param"] == "content"


def test_apply_template_gives_the_prompt_a_chat_completion_runs(server: RunningServer) -> None:
    prompt = _post(server, "/apply-template", {"messages": MESSAGES}).json()["prompt"]
    assert "Name a colour." in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    tokens = _post(server, "/tokenize", {"content": prompt, "add_special": True}).json()["tokens"]
    completion = openai_client(server.inference_url).chat.completions.create(
        model="agent-1", messages=MESSAGES, max_tokens=1
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(tokens)


def test_props_describe_the_model_and_its_slots(server: RunningServer) -> None:
    props = httpx.get(server.inference_url + "/props").json()
    assert props["total_slots"] == server.agent()["slots_total"]
    assert props["model_path"].endswith(".gguf")
    assert "im_start" in props["chat_template"]
    assert props["modalities"] == {"vision": False, "audio": False}
    assert props["default_generation_settings"]["n_ctx"] > 0
    assert props["state"] == "ready"


def test_the_utility_endpoints_need_the_inference_key(server_factory: ServerFactory) -> None:
    keyed = server_factory("--inference-api-key", "secret")
    body = {"content": "hi", "tokens": [1], "messages": MESSAGES}
    for path in ("/tokenize", "/detokenize", "/apply-template"):
        assert _post(keyed, path, body).status_code == 401
        assert _post(keyed, path, body, Authorization="Bearer secret").status_code == 200
    assert httpx.get(keyed.inference_url + "/props").status_code == 401
