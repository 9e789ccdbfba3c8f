"""Prompts that share only their opening words each keep their own slot's cache: sent again, each is
served from it (all but its last token), instead of every new prompt wiping the cache of the previous one
for the few tokens they share."""

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
