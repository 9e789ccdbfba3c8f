"""Log-probabilities and logit_bias through the OpenAI API with the official openai package: the
reported tokens spell the answer, whole or streamed; biases steer or forbid tokens; bad ids and
values are 400s that name the problem."""

from __future__ import annotations

import math
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from paddler.llama import LlamaModel

from .conftest import RunningServer, openai_client

MODEL = "agent-1"
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture
def client(server: RunningServer) -> openai.OpenAI:
    return openai_client(server.inference_url)


@pytest.fixture(scope="module")
def paris_token(default_model_path: Path) -> int:
    with LlamaModel(str(default_model_path), vocab_only=True) as model:
        (token,) = model.vocab.tokenize(" Paris", add_special=False)
        return token


def test_chat_logprobs_spell_the_answer_whole_and_streamed(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=12, logprobs=True, top_logprobs=3)
    choice = whole.choices[0]
    assert choice.logprobs is not None
    entries = choice.logprobs.content or []
    assert "".join(entry.token for entry in entries) == choice.message.content
    for entry in entries:
        assert entry.bytes == list(entry.token.encode())
        alternatives = [alternative.logprob for alternative in entry.top_logprobs]
        assert len(alternatives) == 3
        assert alternatives == sorted(alternatives, reverse=True)
        assert entry.logprob <= alternatives[0] + 1e-9 <= 0
        assert sum(math.exp(value) for value in alternatives) <= 1 + 1e-6

    chunks = list(
        client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=12, logprobs=True, stream=True)
    )
    streamed = [
        entry.token
        for chunk in chunks
        if chunk.choices and chunk.choices[0].logprobs
        for entry in chunk.choices[0].logprobs.content or []
    ]
    assert "".join(streamed) == choice.message.content
    plain = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=4)
    assert plain.choices[0].logprobs is None


def test_text_completion_logprobs_in_the_legacy_form(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=4, logprobs=2)
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens is not None
    assert logprobs.text_offset is not None
    assert logprobs.top_logprobs is not None
    assert "".join(logprobs.tokens) == completion.choices[0].text
    assert logprobs.text_offset == [sum(len(token) for token in logprobs.tokens[:index]) for index in range(4)]
    assert all(len(alternatives) == 2 for alternatives in logprobs.top_logprobs)


def test_logit_bias_forbids_and_forces_tokens(client: openai.OpenAI, paris_token: int) -> None:
    def answer(bias: dict[str, int]) -> str:
        completion = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=6, logit_bias=bias)
        return completion.choices[0].message.content or ""

    assert " Paris" in answer({})
    assert " Paris" not in answer({str(paris_token): -100})
    assert answer({str(paris_token): 100}) == " Paris" * 6


def test_bad_logprob_and_bias_options_are_400s(client: openai.OpenAI) -> None:
    for options, fragment in (
        ({"top_logprobs": 2}, "needs logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"logit_bias": {"99999999": 1}}, "tokens are 0.."),
        ({"logit_bias": {"5": 101}}, "logit_bias"),
        ({"logit_bias": {"abc": 1}}, "logit_bias"),
    ):
        with pytest.raises(openai.BadRequestError, match=fragment):
            client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=2, **options)
