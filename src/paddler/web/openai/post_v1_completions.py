"""POST /v1/completions: OpenAI's legacy text completions, the prompt used as is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

from flask import Blueprint, Response, jsonify, request
from pydantic import Field

from paddler.engine.result_stream import ResultStream
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedTokenResult, TokenLogprob
from paddler.web.openai.chat_request import OpenAISampling, check_one_choice
from paddler.web.openai.generation import (
    Delta,
    Finished,
    chunk_stream_response,
    legacy_logprobs,
    run_generation,
    sse,
    submit_openai_generation,
    usage_json,
)
from paddler.web.openai.request import TokenLimit, parse_openai_body, sampling_for
from paddler.web.shared.paddler_services import current_services
from paddler.web.shared.request_id import new_request_id

blueprint = Blueprint("openai_completions", __name__)
# OpenAI's default for this endpoint.
DEFAULT_MAX_TOKENS = 16
# OpenAI's cap for the legacy `logprobs` count.
LEGACY_MAX_LOGPROBS = 5


class CompletionRequest(OpenAISampling):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]
    max_tokens: TokenLimit = DEFAULT_MAX_TOKENS
    # The legacy form: how many alternatives to report with each token's log-probability.
    logprobs: Annotated[int, Field(ge=0, le=LEGACY_MAX_LOGPROBS)] | None = None

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


def _completion_events(
    stream: ResultStream[GeneratedTokenResult], completion: CompletionRequest, environ: dict[str, Any]
) -> Iterator[Delta | TokenLogprob | Finished]:
    # No tools are offered here, so the events are text, log-probabilities and the end.
    for event in run_generation(stream, completion.stop_strings, completion.max_tokens, environ):
        if isinstance(event, TokenLogprob | Finished) or (isinstance(event, Delta) and event.field == "content"):
            yield event


def _completion_chunks(
    stream: ResultStream[GeneratedTokenResult],
    completion: CompletionRequest,
    base: dict[str, Any],
    environ: dict[str, Any],
) -> Iterator[bytes]:
    # Log-probabilities ride on the next chunk with text; offsets count from the start of the output.
    pending: list[TokenLogprob] = []
    offset = 0

    def completion_chunk(text: str, finish_reason: str | None = None) -> bytes:
        nonlocal offset
        carried = None
        if completion.logprobs is not None and (text or finish_reason is not None):
            carried = legacy_logprobs(pending, offset)
            offset += sum(len(token) for token in carried["tokens"])
            pending.clear()
        return sse(
            {**base, "choices": [{"index": 0, "text": text, "logprobs": carried, "finish_reason": finish_reason}]}
        )

    for event in _completion_events(stream, completion, environ):
        if isinstance(event, TokenLogprob):
            pending.append(event)
        elif isinstance(event, Delta):
            yield completion_chunk(event.text)
        else:
            yield completion_chunk("", event.finish_reason)
            if completion.include_usage:
                yield sse({**base, "choices": [], "usage": usage_json(event.usage)})


@blueprint.post("/v1/completions")
def post_completions() -> Response:
    completion = parse_openai_body(CompletionRequest)
    services = current_services()
    check_one_choice(completion, services)
    engine = services.serving_engine()
    params = GenerateTokensParams(
        prompt=completion.prompt_text,
        max_tokens=completion.max_tokens,
        sampling=sampling_for(completion, engine.settings.sampling),
        ignore_eog=completion.ignore_eos,
        chat_template=services.chat_template,
        logit_bias=completion.logit_biases,
        top_logprobs=completion.logprobs,
    )
    stream = submit_openai_generation(services, params)
    base = {
        "id": f"cmpl-{new_request_id()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": completion.model,
    }
    if completion.stream:
        return chunk_stream_response(_completion_chunks(stream, completion, base, request.environ))
    texts: list[str] = []
    entries: list[TokenLogprob] = []
    finished: Finished | None = None
    for event in _completion_events(stream, completion, request.environ):
        if isinstance(event, Delta):
            texts.append(event.text)
        elif isinstance(event, TokenLogprob):
            entries.append(event)
        else:
            finished = event
    assert finished is not None
    choice = {
        "index": 0,
        "text": "".join(texts),
        "logprobs": None if completion.logprobs is None else legacy_logprobs(entries, 0),
        "finish_reason": finished.finish_reason,
    }
    return jsonify({**base, "choices": [choice], "usage": usage_json(finished.usage)})
