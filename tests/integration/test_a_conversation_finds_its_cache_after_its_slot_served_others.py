"""More conversations than slots: a conversation's cache, moved to host memory when its slot went to
another prompt (offloaded at its end under one pool, copied out of its stream when cut with a stream per
slot), is found again when the conversation comes back, whichever slot it then gets."""

from __future__ import annotations

import pytest

from paddler.engine.engine_settings import KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, text_of


def _run(engine: object, prompt: str) -> GenerationDone:
    results = list(engine.submit_generation(GenerateTokensParams(prompt, 8, GREEDY)))  # type: ignore[attr-defined]
    done = results[-1]
    assert isinstance(done, GenerationDone)
    return done


LAYOUTS = pytest.mark.parametrize("kv_layout", list(KvLayout))


@LAYOUTS
def test_three_conversations_on_two_slots_each_find_their_cache(
    engine_factory: EngineFactory, kv_layout: KvLayout
) -> None:
    engine = engine_factory(slots=2, kv_layout=kv_layout)
    prompts = [chat_prompt(f"Tell me about {topic}, briefly.") for topic in ("rivers", "mountains", "deserts")]
    for prompt in prompts:
        assert _run(engine, prompt).usage.cached_prompt_tokens < 10  # the chat template's opening at most
    # Each has been pushed out of its slot by the others at least once by now.
    for prompt in prompts:
        done = _run(engine, prompt)
        assert done.usage.cached_prompt_tokens == done.usage.prompt_tokens - 1


@LAYOUTS
def test_a_cache_brought_back_from_host_memory_answers_as_a_cold_run(
    engine_factory: EngineFactory, kv_layout: KvLayout
) -> None:
    warm = engine_factory(slots=1, kv_layout=kv_layout)
    cold = engine_factory(slots=1, kv_layout=kv_layout, prompt_cache_bytes=0)
    first, other = chat_prompt("Name three colours."), chat_prompt("Name three animals.")
    for prompt in (first, other):
        _run(warm, prompt)
    follow_up = first + "Red, green"
    warm_results = list(warm.submit_generation(GenerateTokensParams(follow_up, 16, GREEDY)))
    cold_results = list(cold.submit_generation(GenerateTokensParams(follow_up, 16, GREEDY)))
    warm_done = warm_results[-1]
    assert isinstance(warm_done, GenerationDone)
    assert warm_done.usage.cached_prompt_tokens >= _run(cold, first).usage.prompt_tokens - 1
    assert text_of(warm_results) == text_of(cold_results)
