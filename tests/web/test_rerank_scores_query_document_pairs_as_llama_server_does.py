"""POST /v1/rerank with a reranking model (a tiny random BERT with rank pooling and a one-output classifier
head, written with gguf-py): each document gets the score the model gives its query-document pair, best
first; a model that cannot rank is a clear 501."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.tiny_gguf import write_tiny_bert

from .conftest import RunningServer, start_server, stop_server

QUERY = "What is a llama?"
DOCUMENTS = ["A llama is a South American camelid.", "Paris is in France.", "Llamas hum.", "Tea is hot."]


@pytest.fixture(scope="module")
def reranker_path(vocab_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("models") / "tiny-reranker.gguf"
    return write_tiny_bert(target, vocab_models_dir / "ggml-vocab-bert-bge.gguf", n_ctx_train=512, reranker=True)


@pytest.fixture(scope="module")
def reranker(reranker_path: Path) -> Iterator[RunningServer]:
    running = start_server(reranker_path, "--enable-embeddings", "--pooling-type", "rank", "--slots", "1")
    yield running
    stop_server(running)


def test_documents_come_back_scored_best_first(reranker: RunningServer) -> None:
    answer = httpx.post(
        reranker.inference_url + "/v1/rerank",
        json={"query": QUERY, "documents": DOCUMENTS, "return_text": True},
        timeout=60,
    ).json()
    results = answer["results"]
    assert sorted(result["index"] for result in results) == [0, 1, 2, 3]
    scores = [result["relevance_score"] for result in results]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores), "each pair is scored on its own"
    assert all(result["document"]["text"] == DOCUMENTS[result["index"]] for result in results)
    assert answer["usage"]["prompt_tokens"] > 0
    top = httpx.post(
        reranker.inference_url + "/rerank", json={"query": QUERY, "documents": DOCUMENTS, "top_n": 2}, timeout=60
    ).json()["results"]
    assert [result["index"] for result in top] == [result["index"] for result in results[:2]]
    assert "document" not in top[0]


def test_a_pair_is_scored_as_the_query_and_the_document_joined_by_the_separator(reranker: RunningServer) -> None:
    alone = httpx.post(
        reranker.inference_url + "/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS[:1]}, timeout=60
    ).json()["results"][0]["relevance_score"]
    among = httpx.post(
        reranker.inference_url + "/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS}, timeout=60
    ).json()["results"]
    assert next(result for result in among if result["index"] == 0)["relevance_score"] == pytest.approx(alone, rel=1e-4)
    tokens = httpx.post(
        reranker.inference_url + "/tokenize", json={"content": QUERY + "[SEP]" + DOCUMENTS[0], "add_special": True}
    ).json()["tokens"]
    assert tokens.count(102) == 2, "[CLS] query [SEP] document [SEP]"


def test_a_model_that_cannot_rank_says_how_to_serve_one(server: RunningServer) -> None:
    refused = httpx.post(server.inference_url + "/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS})
    assert refused.status_code == 501
    assert "pooling-type rank" in refused.json()["error"]["message"]
