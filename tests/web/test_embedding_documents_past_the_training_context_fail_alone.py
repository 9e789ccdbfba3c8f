"""A document longer than the model's training context gets its own DocumentExceedsBatchSize (bounded
by the position table, not only by n_batch); the other documents embed and the server lives on. Before,
llama.cpp indexed past a BERT position table and aborted the whole process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.tiny_gguf import write_tiny_bert

from .conftest import start_server, stop_server

TRAINING_CONTEXT = 64


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, vocab_models_dir: Path) -> Path:
    target = tmp_path_factory.mktemp("bert") / "tiny-bert.gguf"
    return write_tiny_bert(target, vocab_models_dir / "ggml-vocab-bert-bge.gguf", n_ctx_train=TRAINING_CONTEXT)


def _responses(response: httpx.Response) -> list[Any]:
    return [json.loads(line)["Response"]["response"] for line in response.text.splitlines() if line]


def test_a_document_past_the_training_context_fails_alone(tiny_bert: Path) -> None:
    server = start_server(tiny_bert, "--enable-embeddings", "--pooling-type", "mean", "--n-batch", "256")
    try:
        body = {
            "input_batch": [
                {"id": "short", "content": "a short document"},
                {"id": "long", "content": "word " * 100},
                {"id": "also short", "content": "another short one"},
            ],
            "normalization_method": "L2",
        }
        responses = _responses(
            httpx.post(f"{server.inference_url}/api/v1/generate_embedding_batch", json=body, timeout=60)
        )
        assert responses[-1] == {"Embedding": "Done"}
        errors = [
            response["Embedding"] for response in responses if "DocumentExceedsBatchSize" in response["Embedding"]
        ]
        assert len(errors) == 1
        error = errors[0]["DocumentExceedsBatchSize"]
        assert error["source_document_id"] == "long"
        assert error["document_tokens"] > TRAINING_CONTEXT
        assert error["n_batch"] == TRAINING_CONTEXT
        embedded = {
            response["Embedding"]["Embedding"]["source_document_id"]
            for response in responses
            if "Embedding" in response["Embedding"]
        }
        assert embedded == {"short", "also short"}
        assert server.process.poll() is None
        assert httpx.get(f"{server.inference_url}/health").status_code == 200
    finally:
        log = stop_server(server)
    assert "fault" not in log, log
