"""Chunked prefill under a per-step budget: while 8 streams generate, a 2,000-token prompt is decoded
a budget's worth of tokens per step, and every step still gives each running stream its token. Counted
in engine steps and tokens, not wall-clock time. Before, the whole prompt went into one step (up to
n_batch) and every running stream waited for it."""

from __future__ import annotations

import threading

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, wait_for

RUNNING = 8
BUDGET = 64
MAX_TOKENS = 150


def _stream(engine: ContinuousBatchEngine, started: threading.Event, done: list[int]) -> None:
    results = engine.submit_generation(
        GenerateTokensParams("Tell me a long story.", MAX_TOKENS, GREEDY, ignore_eog=True)
    )
    for result in results:
        if isinstance(result, GeneratedToken):
            started.set()
        elif isinstance(result, GenerationDone):
            done.append(result.usage.completion_tokens)


def test_running_streams_get_a_token_every_step_while_a_long_prompt_is_prefilled(
    engine_factory: EngineFactory,
) -> None:
    engine = engine_factory(slots=RUNNING + 1, context_size=(RUNNING + 1) * 2304, prefill_budget=BUDGET)
    started = [threading.Event() for _ in range(RUNNING)]
    done: list[int] = []
    streams = [threading.Thread(target=_stream, args=(engine, event, done)) for event in started]
    for stream in streams:
        stream.start()
    assert wait_for(lambda: all(event.is_set() for event in started), timeout=60)
    prompt = " ".join(["river mountain lantern quiet orange"] * 400)
    before = engine.stats()
    results = list(engine.submit_generation(GenerateTokensParams(prompt, 1, GREEDY, ignore_eog=True)))
    after = engine.stats()
    final = results[-1]
    assert isinstance(final, GenerationDone)
    prompt_tokens = final.usage.prompt_tokens
    assert prompt_tokens >= 2000
    steps = after.steps - before.steps
    # The prompt took a step per budget's worth of its tokens, not one step.
    assert steps >= prompt_tokens // BUDGET
    # And each of those steps gave each running stream a token (one step of slack at each end,
    # where the counters were read while a step ran).
    running_tokens = after.generated_tokens - before.generated_tokens - 1
    assert running_tokens >= RUNNING * (steps - 2)
    assert not done  # the running streams were still generating throughout
    for stream in streams:
        stream.join(timeout=120)
    assert done == [MAX_TOKENS] * RUNNING
