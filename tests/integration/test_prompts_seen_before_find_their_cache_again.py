"""Prompts that share only their opening words each keep their own slot's cache: sent again, each is
served from it (all but its last token), instead of every new prompt wiping the cache of the previous one
for the few tokens they share. A prompt sent again after an answer longer than itself finds its cache too,
though the slot choice then prefers an empty slot to cutting that cache by more than half."""

from __future__ import annotations

from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt


def test_each_prompt_sent_again_is_served_from_its_own_cache(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=4)
    prompts = [
        chat_prompt(f"Question {index}: what is the capital of {country}?")
        for index, country in enumerate(("France", "Spain", "Italy"))
    ]
    for _ in range(2):
        usages = []
        for prompt in prompts:
            done = list(engine.submit_generation(GenerateTokensParams(prompt, 4, GREEDY)))[-1]
            assert isinstance(done, GenerationDone)
            usages.append(done.usage)
    assert [usage.cached_prompt_tokens for usage in usages] == [usage.prompt_tokens - 1 for usage in usages]


def test_a_prompt_sent_again_after_a_long_answer_is_served_from_its_cache(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2)
    prompt = chat_prompt("Tell me about lighthouses.")
    first = list(engine.submit_generation(GenerateTokensParams(prompt, 60, GREEDY, ignore_eog=True)))[-1]
    assert isinstance(first, GenerationDone)
    # Its slot now holds the prompt and an answer longer than it: taking that slot again would cut more
    # than half of its cache, so the empty slot is chosen, and the cache must follow the prompt there.
    assert first.usage.completion_tokens > first.usage.prompt_tokens
    again = list(engine.submit_generation(GenerateTokensParams(prompt, 4, GREEDY)))[-1]
    assert isinstance(again, GenerationDone)
    assert again.usage.cached_prompt_tokens == again.usage.prompt_tokens - 1
