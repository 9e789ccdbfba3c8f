"""Paddler's official Python client, unchanged, against a running paddler server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from typing import Any, TypeVar, cast

import pytest
from paddler_client.agent_controller_pool_snapshot import AgentControllerPoolSnapshot
from paddler_client.balancer_desired_state import BalancerDesiredState
from paddler_client.buffered_request_manager_snapshot import BufferedRequestManagerSnapshot
from paddler_client.chat_template import ChatTemplate
from paddler_client.client_inference import ClientInference
from paddler_client.client_management import ClientManagement
from paddler_client.continue_from_conversation_history_params import ContinueFromConversationHistoryParams
from paddler_client.continue_from_raw_prompt_params import ContinueFromRawPromptParams
from paddler_client.conversation_message import ConversationMessage
from paddler_client.embedding_input_document import EmbeddingInputDocument
from paddler_client.embedding_normalization_method import EmbeddingNormalizationMethod
from paddler_client.error import HttpError
from paddler_client.generate_embedding_batch_params import GenerateEmbeddingBatchParams
from paddler_client.inference_message import InferenceMessage, InferenceMessageKind
from paddler_client.inference_socket_connection import ResponseStream
from paddler_client.model_metadata import ModelMetadata

from .conftest import RunningServer, ServerFactory

Result = TypeVar("Result")
Snapshot = TypeVar("Snapshot")


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


def test_management_lists_the_agent_and_its_model_metadata(server: RunningServer) -> None:
    async def scenario() -> tuple[AgentControllerPoolSnapshot, ModelMetadata | None]:
        async with ClientManagement(server.management_url) as management:
            agents = await management.get_agents()
            return agents, await management.get_model_metadata(agents.agents[0].id)

    agents, metadata = _run(scenario())
    (agent,) = agents.agents
    assert (agent.name, agent.slots_total, agent.uses_chat_template_override) == ("agent-1", 4, False)
    assert metadata is not None
    assert metadata.metadata["general.architecture"] == "llama"


def test_management_buffered_requests_and_metrics(server: RunningServer) -> None:
    async def scenario() -> tuple[BufferedRequestManagerSnapshot, str]:
        async with ClientManagement(server.management_url) as management:
            return await management.get_buffered_requests(), await management.get_metrics()

    buffered, metrics = _run(scenario())
    assert buffered.buffered_requests_current == 0
    assert "paddler_slots_total 4.0" in metrics


def test_management_streams_start_with_the_current_snapshot(server: RunningServer) -> None:
    async def first(stream: AsyncIterator[Snapshot]) -> Snapshot:
        generator = cast(AsyncGenerator[Snapshot, None], stream)
        try:
            return await anext(generator)
        finally:
            await generator.aclose()

    async def scenario() -> tuple[AgentControllerPoolSnapshot, BufferedRequestManagerSnapshot]:
        async with ClientManagement(server.management_url) as management:
            return await first(management.agents_stream()), await first(management.buffered_requests_stream())

    agents, buffered = _run(scenario())
    assert agents.agents[0].name == "agent-1"
    assert buffered.buffered_requests_current == 0


def test_management_chat_template_override_is_none_then_the_override(server_factory: ServerFactory) -> None:
    """Without an override the server answers `null`, which the client reads as None only when the body
    is exactly that text; with one, the client reads its content."""
    server = server_factory("--slots", "1")
    template = "{% for message in messages %}{{ message.content }}{% endfor %}"

    async def scenario() -> tuple[ChatTemplate | None, BalancerDesiredState, ChatTemplate | None, bool]:
        async with ClientManagement(server.management_url) as management:
            agent_id = (await management.get_agents()).agents[0].id
            before = await management.get_chat_template_override(agent_id)
            state = await management.get_balancer_desired_state()
            await management.put_balancer_desired_state(
                state.model_copy(
                    update={
                        "chat_template_override": ChatTemplate(content=template),
                        "use_chat_template_override": True,
                    }
                )
            )
            saved = await management.get_balancer_desired_state()
            after = await management.get_chat_template_override(agent_id)
            uses = (await management.get_agents()).agents[0].uses_chat_template_override
            return before, saved, after, uses

    before, saved, after, uses = _run(scenario())
    assert before is None
    assert saved.use_chat_template_override
    assert saved.chat_template_override == ChatTemplate(content=template)
    assert after == ChatTemplate(content=template)
    assert uses


def test_management_errors_reach_the_client_as_http_errors(server: RunningServer) -> None:
    async def scenario() -> list[int]:
        statuses = []
        async with ClientManagement(server.management_url) as management:
            for call in (management.get_chat_template_override, management.get_model_metadata):
                with pytest.raises(HttpError) as refused:
                    await call("no-such-agent")
                statuses.append(refused.value.status_code)
        return statuses

    assert _run(scenario()) == [404, 404]
