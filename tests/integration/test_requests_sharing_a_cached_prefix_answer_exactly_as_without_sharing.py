"""Prefix sharing across slots (engine/prefix_sharing.py): with greedy sampling, every request answers
exactly as it does without sharing, while the common system prompts are prefilled once."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_settings import KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, text_of, wait_for

WORDS = ["river", "mountain", "lantern", "harbor", "meadow", "copper", "garden", "falcon", "winter", "signal"]
# Three distinct system prompts of ~400 tokens each.
SYSTEM_PROMPTS = [
    f"You are a helpful assistant; the notes below are context {index} only. "
    + " ".join(random.Random(index).choice(WORDS) for _ in range(370))
    for index in range(3)
]
QUESTIONS = [
    "What is the capital of France?",
    "What is 2 + 2?",
    "Who wrote Romeo and Juliet?",
    "What color is the sky on a clear day?",
    "What is the capital of Italy?",
    "How many days are in a week?",
    "What is the largest planet?",
    "What is the capital of Germany?",
    "What do bees make?",
    "What is frozen water called?",
    "What is the capital of Spain?",
    "How many legs does a spider have?",
    "What is the opposite of hot?",
    "What is the capital of Japan?",
    "What animal says moo?",
    "What is 3 + 5?",
]
MAX_TOKENS = 8


def system_chat(system: str, turns: list[tuple[str, str]], question: str) -> str:
    history = "".join(
        f"<|im_start|>user\n{asked}<|im_end|>\n<|im_start|>assistant\n{answered}<|im_end|>\n"
        for asked, answered in turns
    )
    opening = f"<|im_start|>system\n{system}<|im_end|>\n{history}"
    return f"{opening}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def answer(engine: ContinuousBatchEngine, prompt: str) -> tuple[str, GenerationDone]:
    results = list(engine.submit_generation(GenerateTokensParams(prompt, MAX_TOKENS, GREEDY)))
    done = results[-1]
    assert isinstance(done, GenerationDone), done
    return text_of(results), done


# Answers without sharing, by prompt: the same on every layout, so worked out once per run.
ANSWERS_ALONE: dict[str, str] = {}


def answers_alone(engine_factory: EngineFactory, prompts: list[str]) -> list[str]:
    """Each prompt's answer without sharing, one at a time (a slot's own reuse of the system prompt
    keeps this quick; it never changes an answer, see test_multi_turn_chat_reuses_cached_prompt_tokens)."""
    missing = sorted(prompt for prompt in prompts if prompt not in ANSWERS_ALONE)
    if missing:
        engine = engine_factory(slots=1, prefix_sharing=False)
        ANSWERS_ALONE.update((prompt, answer(engine, prompt)[0]) for prompt in missing)
    return [ANSWERS_ALONE[prompt] for prompt in prompts]


def assert_as_without_sharing(texts: list[str], expected: list[str]) -> None:
    """Every answer as without sharing, but for at most one that parts from it late: llama.cpp's sums
    differ in their last bits with the makeup of the batch a token was computed in (which requests share
    a step is timing), and once in many runs that turns a greedy choice near a tie, with or without
    sharing. Wrong cells would change many answers from their first words."""
    differing = [(text, want) for text, want in zip(texts, expected, strict=True) if text != want]
    assert len(differing) <= 1, differing
    for text, want in differing:
        same = next(
            (index for index, (got, wanted) in enumerate(zip(text, want, strict=False)) if got != wanted), len(want)
        )
        assert same >= len(want) // 2, (text, want)


@pytest.mark.parametrize("kv_layout", [KvLayout.UNIFIED, KvLayout.PER_SLOT, KvLayout.ADAPTIVE])
def test_sixteen_concurrent_requests_over_three_system_prompts_answer_as_without_sharing(
    engine_factory: EngineFactory, kv_layout: KvLayout
) -> None:
    prompts = [system_chat(SYSTEM_PROMPTS[index % 3], [], question) for index, question in enumerate(QUESTIONS)]
    expected = answers_alone(engine_factory, prompts)
    engine = engine_factory(slots=16, context_size=16 * 512, kv_layout=kv_layout)
    with ThreadPoolExecutor(len(prompts)) as pool:
        shared = list(pool.map(lambda prompt: answer(engine, prompt), prompts))
    assert_as_without_sharing([text for text, _ in shared], expected)
    assert "Paris" in shared[0][0]
    system_tokens = len(engine.tokenize(SYSTEM_PROMPTS[0], add_special=False, parse_special=False))
    # Each system prompt is prefilled once; every other request takes it from another slot.
    sharers = [done for _, done in shared if done.usage.cached_prompt_tokens >= system_tokens]
    assert len(sharers) >= len(prompts) - 3
    stats = engine.stats()
    assert stats.shared_prompt_tokens >= (len(prompts) - 3) * system_tokens
    assert stats.cached_prompt_tokens == sum(done.usage.cached_prompt_tokens for _, done in shared)


def test_concurrent_multi_turn_conversations_over_one_system_prompt_answer_as_without_sharing(
    engine_factory: EngineFactory,
) -> None:
    conversations = [QUESTIONS[0:3], QUESTIONS[3:6], QUESTIONS[6:9]]
    system = SYSTEM_PROMPTS[0]

    def converse(engine: ContinuousBatchEngine, questions: list[str]) -> list[str]:
        turns: list[tuple[str, str]] = []
        for question in questions:
            turns.append((question, answer(engine, system_chat(system, turns, question))[0]))
        return [answered for _, answered in turns]

    alone = engine_factory(slots=1, prefix_sharing=False)
    expected = [converse(alone, questions) for questions in conversations]
    engine = engine_factory(slots=4)
    with ThreadPoolExecutor(len(conversations)) as pool:
        together = list(pool.map(lambda questions: converse(engine, questions), conversations))
    assert together == expected
    assert engine.stats().shared_prompt_tokens > 0


def test_cancelling_the_request_whose_prefill_others_wait_for_leaves_their_answers_unchanged(
    engine_factory: EngineFactory,
) -> None:
    # Small batches make the first request's prefill take many steps, so the others start while it runs.
    engine = engine_factory(slots=4, n_batch=32, n_ubatch=32)
    first = engine.submit_generation(GenerateTokensParams(system_chat(SYSTEM_PROMPTS[1], [], QUESTIONS[0]), 8, GREEDY))
    assert wait_for(lambda: engine.stats().slots_processing == 1)
    prompts = [system_chat(SYSTEM_PROMPTS[1], [], question) for question in QUESTIONS[1:4]]
    with ThreadPoolExecutor(len(prompts)) as pool:
        waiting = [pool.submit(answer, engine, prompt) for prompt in prompts]
        assert wait_for(lambda: engine.stats().slots_processing == 4)
        first.close()
        answered = [future.result() for future in waiting]
    assert engine.stats().requests_cancelled == 1
    engine_without = engine_factory(slots=4, n_batch=32, n_ubatch=32, prefix_sharing=False)
    assert [text for text, _ in answered] == [answer(engine_without, prompt)[0] for prompt in prompts]
    # Once the source left, one of them prefilled the system prompt and the others took it from it.
    system_tokens = len(engine.tokenize(SYSTEM_PROMPTS[1], add_special=False, parse_special=False))
    sharers = [done for _, done in answered if done.usage.cached_prompt_tokens >= system_tokens]
    assert len(sharers) >= len(prompts) - 1


def test_a_slot_whose_cache_waits_in_host_memory_takes_the_same_prefix_from_a_running_slot_instead(
    engine_factory: EngineFactory,
) -> None:
    """Both slots' caches went to host memory holding the system prompt; while one slot runs again, a
    request for the other takes the prompt from it (no copy, no second set of cells) rather than
    restoring its own copy, and answers as without sharing. (Every question starts "What", so the running
    slot holds as long a prefix of the new prompt as the idle slot's own copy.)"""
    system = SYSTEM_PROMPTS[2]
    engine = engine_factory(slots=2, kv_layout=KvLayout.UNIFIED)  # one pool offloads idle caches to host
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda question: answer(engine, system_chat(system, [], question)), QUESTIONS[:2]))
    running = engine.submit_generation(
        GenerateTokensParams(system_chat(system, [], QUESTIONS[4]), 400, GREEDY, ignore_eog=True)
    )
    assert wait_for(lambda: engine.stats().slots_processing == 1)
    before = engine.stats().shared_prompt_tokens
    prompt = system_chat(system, [], QUESTIONS[3])
    text, done = answer(engine, prompt)
    running.close()
    system_tokens = len(engine.tokenize(system, add_special=False, parse_special=False))
    assert engine.stats().shared_prompt_tokens - before >= system_tokens
    assert done.usage.cached_prompt_tokens >= system_tokens
    assert text == answers_alone(engine_factory, [prompt])[0]
