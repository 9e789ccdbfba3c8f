"""POST /v1/completions: OpenAI's legacy text completions, the prompt used as is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

from flask import Blueprint, Response, jsonify, request
from pydantic import Field

from paddler.engine.result_stream import ResultStream
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedTokenResult
from paddler.web.openai_chat_request import OpenAISampling, check_one_choice
from paddler.web.openai_error import OpenAIError
from paddler.web.openai_generation import DONE, Delta, Finished, run_generation, sse, submit, usage_json
from paddler.web.openai_request import TokenLimit, parse_body, sampling_for
from paddler.web.paddler_services import current_services
from paddler.web.wire_results import new_request_id

blueprint = Blueprint("openai_completions", __name__)
# OpenAI's default for this endpoint.
DEFAULT_MAX_TOKENS = 16


class CompletionRequest(OpenAISampling):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]
    max_tokens: TokenLimit = DEFAULT_MAX_TOKENS

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


def _text(
    stream: ResultStream[GeneratedTokenResult], completion: CompletionRequest, environ: dict[str, Any]
) -> Iterator[Delta | Finished]:
    # No tools are offered here, so the events are text and the end.
    for event in run_generation(stream, completion.stop_strings, completion.max_tokens, environ):
        if isinstance(event, Finished) or (isinstance(event, Delta) and event.field == "content"):
            yield event


def _chunks(
    stream: ResultStream[GeneratedTokenResult],
    completion: CompletionRequest,
    base: dict[str, Any],
    environ: dict[str, Any],
) -> Iterator[bytes]:
    def choice(text: str, finish_reason: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}]})

    try:
        for event in _text(stream, completion, environ):
            if isinstance(event, Delta):
                yield choice(event.text)
            else:
                yield choice("", event.finish_reason)
                if completion.include_usage:
                    yield sse({**base, "choices": [], "usage": usage_json(event.usage)})
    except OpenAIError as error:
        yield sse(error.body())
    yield DONE


@blueprint.post("/v1/completions")
def post_completions() -> Response:
    completion = parse_body(CompletionRequest)
    services = current_services()
    check_one_choice(completion, services)
    engine = services.serving_engine()
    params = GenerateTokensParams(
        prompt=completion.prompt_text,
        max_tokens=completion.max_tokens,
        sampling=sampling_for(completion, engine.settings.sampling),
        ignore_eog=completion.ignore_eos,
        chat_template=services.chat_template,
    )
    stream = submit(services, params)
    base = {
        "id": f"cmpl-{new_request_id()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": completion.model,
    }
    if completion.stream:
        return Response(
            _chunks(stream, completion, base, request.environ),
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    texts: list[str] = []
    finished: Finished | None = None
    for event in _text(stream, completion, request.environ):
        if isinstance(event, Delta):
            texts.append(event.text)
        else:
            finished = event
    assert finished is not None
    choice = {"index": 0, "text": "".join(texts), "logprobs": None, "finish_reason": finished.finish_reason}
    return jsonify({**base, "choices": [choice], "usage": usage_json(finished.usage)})
