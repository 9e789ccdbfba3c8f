"""When the shared KV cache runs out, the request holding the most positions is evicted; others finish."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from paddler.engine.engine_settings import KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams, GrammarConstraint
from paddler.messages.generated_token_result import GenerationDone, GenerationErrorKind, GenerationFailed
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt

# A grammar that never completes, so neither request can stop early at an end-of-generation token.
ENDLESS = GrammarConstraint('root ::= "ab " root')


def test_the_longest_sequence_is_evicted(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2, context_size=256, kv_layout=KvLayout.UNIFIED)
    long_params = GenerateTokensParams(chat_prompt("Repeat: " + "alpha beta " * 50), 100, GREEDY, ENDLESS)
    short_params = GenerateTokensParams(chat_prompt("Say hi."), 100, GREEDY, ENDLESS)
    with ThreadPoolExecutor(2) as pool:
        long = pool.submit(lambda: list(engine.submit_generation(long_params)))
        short = pool.submit(lambda: list(engine.submit_generation(short_params)))
        long_end, short_end = long.result()[-1], short.result()[-1]
    assert isinstance(short_end, GenerationDone)
    assert short_end.usage.completion_tokens == 100
    assert isinstance(long_end, GenerationFailed)
    assert long_end.kind is GenerationErrorKind.SAMPLER_ERROR
    assert long_end.message == "Request evicted due to KV cache pressure"
    assert engine.stats().kv_evictions == 1
    assert engine.stats().slots_processing == 0
