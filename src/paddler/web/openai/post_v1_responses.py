"""POST /v1/responses: OpenAI's Responses API over the same engine, streamed as named server-sent
events (`event: <type>`) with gapless sequence numbers, or answered whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request

from paddler.engine.result_stream import ResultStream
from paddler.messages.generated_token_result import GeneratedTokenResult
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.generation import run_generation, sse, submit_openai_generation
from paddler.web.openai.request import parse_openai_body
from paddler.web.openai.response_events import Event, ResponseEvents
from paddler.web.openai.responses_request import ResponsesRequest, offered_functions, responses_generation
from paddler.web.shared.paddler_services import current_services
from paddler.web.shared.request_id import new_request_id
from paddler.web.shared.server_sent_events import event_stream_response

blueprint = Blueprint("openai_responses", __name__)


def _echoed_choice(responses: ResponsesRequest) -> Any:
    choice = responses.tool_choice
    if choice is None or isinstance(choice, str):
        return choice or "auto"
    return choice.model_dump(exclude_none=True)


def _settings(responses: ResponsesRequest, sampling: dict[str, float]) -> dict[str, Any]:
    """The request's fields a response echoes."""
    text_format = responses.text.format.model_dump(by_alias=True, exclude_none=True)
    return {
        "model": responses.model,
        "instructions": responses.instructions,
        "max_output_tokens": responses.max_output_tokens,
        "metadata": responses.metadata or {},
        "parallel_tool_calls": responses.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": None if responses.reasoning is None else responses.reasoning.effort, "summary": None},
        "store": False,
        "text": {"format": text_format},
        "tool_choice": _echoed_choice(responses),
        "tools": [
            {"type": "function", **function.model_dump(exclude_none=True), "strict": False}
            for function in offered_functions(responses)
        ],
        "truncation": "disabled",
        **sampling,
    }


def _response_events(
    stream: ResultStream[GeneratedTokenResult], limit: int | None, builder: ResponseEvents, environ: dict[str, Any]
) -> Iterator[Event]:
    yield from builder.opening_events()
    try:
        for event in run_generation(stream, (), limit, environ):
            yield from builder.feed(event)
    except OpenAIError as error:
        yield from builder.failure_events(error)


def _sse(events: Iterator[Event]) -> Iterator[bytes]:
    for event in events:
        yield sse(event, event["type"])


@blueprint.post("/v1/responses")
def post_responses() -> Response:
    responses = parse_openai_body(ResponsesRequest)
    services = current_services()
    params = responses_generation(responses, services)
    sampling = params.sampling or services.engine.settings.sampling
    builder = ResponseEvents(
        f"resp_{new_request_id()}", _settings(responses, {"temperature": sampling.temperature, "top_p": sampling.top_p})
    )
    stream = submit_openai_generation(services, params)
    if responses.stream:
        # The generator outlives the request context, so it is handed the WSGI environ.
        return event_stream_response(
            _sse(_response_events(stream, responses.max_output_tokens, builder, request.environ))
        )
    for event in run_generation(stream, (), responses.max_output_tokens, request.environ):
        # A failure raises OpenAIError: before any byte is sent, it is an HTTP error.
        for _ in builder.feed(event):
            pass
    assert builder.final is not None
    return jsonify(builder.final)
