"""The prefix cache: a follow-up turn decodes only what is new and reports what it reused."""

from __future__ import annotations

from paddler.engine.engine_settings import KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, text_of


def test_second_turn_reuses_the_first(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2)
    first_prompt = chat_prompt("What is the capital of France?")
    first = list(engine.submit_generation(GenerateTokensParams(first_prompt, 32, GREEDY)))
    first_done = first[-1]
    assert isinstance(first_done, GenerationDone)
    assert first_done.usage.cached_prompt_tokens == 0

    second_prompt = (
        first_prompt
        + text_of(first)
        + "<|im_end|>\n<|im_start|>user\nAnd of Germany?<|im_end|>\n<|im_start|>assistant\n"
    )
    second = list(engine.submit_generation(GenerateTokensParams(second_prompt, 32, GREEDY)))
    second_done = second[-1]
    assert isinstance(second_done, GenerationDone)
    assert second_done.usage.cached_prompt_tokens >= first_done.usage.prompt_tokens
    assert second_done.usage.cached_prompt_tokens < second_done.usage.prompt_tokens
    assert "Berlin" in text_of(second)
    assert engine.stats().cached_prompt_tokens == second_done.usage.cached_prompt_tokens


def test_reused_cache_gives_the_same_output_as_a_cold_start(engine_factory: EngineFactory) -> None:
    warm_engine = engine_factory(slots=1)
    cold_engine = engine_factory(slots=1)
    prompt = chat_prompt("Name a famous painter.")
    list(warm_engine.submit_generation(GenerateTokensParams(prompt, 8, GREEDY)))
    warm = list(warm_engine.submit_generation(GenerateTokensParams(prompt + "Sure", 16, GREEDY)))
    cold = list(cold_engine.submit_generation(GenerateTokensParams(prompt + "Sure", 16, GREEDY)))
    assert isinstance(warm[-1], GenerationDone)
    assert warm[-1].usage.cached_prompt_tokens > 0
    assert text_of(warm) == text_of(cold)


def test_prefix_reuse_with_and_without_host_offload(engine_factory: EngineFactory) -> None:
    for prompt_cache_bytes in (0, 1 << 30):
        engine = engine_factory(slots=2, kv_layout=KvLayout.UNIFIED, prompt_cache_bytes=prompt_cache_bytes)
        prompt = chat_prompt("Name a famous river.")
        list(engine.submit_generation(GenerateTokensParams(prompt, 8, GREEDY)))
        again = list(engine.submit_generation(GenerateTokensParams(prompt + "The", 8, GREEDY)))[-1]
        assert isinstance(again, GenerationDone)
        assert again.usage.cached_prompt_tokens == again.usage.prompt_tokens - 1, prompt_cache_bytes


def test_a_tiny_host_cache_drops_old_prefixes(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2, kv_layout=KvLayout.UNIFIED, prompt_cache_bytes=1)
    prompt = chat_prompt("Name a famous river.")
    list(engine.submit_generation(GenerateTokensParams(prompt, 8, GREEDY)))
    again = list(engine.submit_generation(GenerateTokensParams(prompt, 8, GREEDY)))[-1]
    assert isinstance(again, GenerationDone)
    assert again.usage.cached_prompt_tokens == 0
