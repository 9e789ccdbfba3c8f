"""Paddler's official Python client, unchanged, against a running paddler server."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from paddler_client.client_inference import ClientInference
from paddler_client.client_management import ClientManagement
from paddler_client.continue_from_conversation_history_params import ContinueFromConversationHistoryParams
from paddler_client.continue_from_raw_prompt_params import ContinueFromRawPromptParams
from paddler_client.conversation_message import ConversationMessage
from paddler_client.embedding_input_document import EmbeddingInputDocument
from paddler_client.embedding_normalization_method import EmbeddingNormalizationMethod
from paddler_client.generate_embedding_batch_params import GenerateEmbeddingBatchParams
from paddler_client.inference_message import InferenceMessage, InferenceMessageKind
from paddler_client.inference_socket_connection import ResponseStream

from .conftest import RunningServer

Result = TypeVar("Result")


def _run(coroutine: Coroutine[Any, Any, Result]) -> Result:
    return asyncio.run(coroutine)


def _conversation(question: str, max_tokens: int = 24) -> ContinueFromConversationHistoryParams:
    return ContinueFromConversationHistoryParams(
        add_generation_prompt=True,
        conversation_history=[
            ConversationMessage(role="system", content="You are a helpful assistant."),
            ConversationMessage(role="user", content=question),
        ],
        enable_thinking=False,
        max_tokens=max_tokens,
    )


def test_health(server: RunningServer) -> None:
    async def scenario() -> tuple[str, str]:
        async with ClientInference(server.inference_url) as inference:
            management = ClientManagement(server.management_url)
            return await inference.get_health(), await management.get_health()

    assert _run(scenario()) == ("OK", "OK")


def test_conversation_history_over_http(server: RunningServer) -> None:
    async def scenario() -> list[InferenceMessage]:
        async with ClientInference(server.inference_url) as inference:
            return [
                message
                async for message in inference.post_continue_from_conversation_history(
                    _conversation("What is the capital of France?")
                )
            ]

    messages = _run(scenario())
    assert len(messages) >= 2
    final = messages[-1]
    assert final.is_terminal
    text = "".join(message.token or "" for message in messages)
    assert "Paris" in text
    assert final.summary is not None
    assert final.summary.usage.prompt_tokens > 10


def test_raw_prompt_and_two_concurrent_requests_over_the_websocket(server: RunningServer) -> None:
    async def scenario() -> list[list[InferenceMessage]]:
        async with ClientInference(server.inference_url, socket_pool_size=1) as inference:
            first = await inference.continue_from_raw_prompt(
                ContinueFromRawPromptParams(raw_prompt="The three primary colors are", max_tokens=12)
            )
            second = await inference.continue_from_conversation_history(_conversation("Name a planet.", 12))

            async def drain(stream: ResponseStream) -> list[InferenceMessage]:
                return [message async for message in stream]

            return list(await asyncio.gather(drain(first), drain(second)))

    first, second = _run(scenario())
    for messages in (first, second):
        assert messages[-1].is_terminal
        assert len(messages) >= 2


@pytest.mark.parametrize("method", ["L2", "None", "RmsNorm"])
def test_embedding_batch(server: RunningServer, method: str) -> None:
    normalization = {
        "L2": EmbeddingNormalizationMethod.l2(),
        "None": EmbeddingNormalizationMethod.none(),
        "RmsNorm": EmbeddingNormalizationMethod.rms_norm(0.001),
    }[method]
    documents = [EmbeddingInputDocument(id=str(index), content=f"document {index}") for index in range(3)]

    async def scenario() -> list[InferenceMessage]:
        async with ClientInference(server.inference_url) as inference:
            return [
                message
                async for message in inference.generate_embedding_batch(
                    GenerateEmbeddingBatchParams(input_batch=documents, normalization_method=normalization)
                )
            ]

    messages = _run(scenario())
    embeddings = [message.embedding_data for message in messages if message.embedding_data is not None]
    assert sorted(embedding.source_document_id for embedding in embeddings) == ["0", "1", "2"]
    assert all(embedding.normalization_method.variant == method for embedding in embeddings)
    assert messages[-1].kind is InferenceMessageKind.EMBEDDING_DONE


def test_management_endpoints(server: RunningServer) -> None:
    async def scenario() -> tuple[Any, Any, Any, str]:
        management = ClientManagement(server.management_url)
        agents = await management.get_agents()
        buffered = await management.get_buffered_requests()
        agent_id = agents.agents[0].id
        metadata = await management.get_model_metadata(agent_id)
        metrics = await management.get_metrics()
        return agents, buffered, metadata, metrics

    agents, buffered, metadata, metrics = _run(scenario())
    agent = agents.agents[0]
    assert agent.name == "agent-1"
    assert agent.slots_total == 4
    assert buffered.buffered_requests_current == 0
    assert metadata.metadata["general.architecture"] == "llama"
    assert "paddler_slots_total 4.0" in metrics
