"""--kv-adaptive: a KV stream per slot while every request fits one, one pool while a request needs more.
With 4 slots of a 512-cell context (128 cells per stream), a request for 300 tokens runs to its end beside
short ones (a fixed stream per slot would refuse it), and writes what a unified engine writes for it; a
request without max_tokens runs to the pool's end, not its stream's; once the long request has ended and
short ones run together, the engine is back on a stream per slot."""

from __future__ import annotations

from paddler.engine.engine_settings import KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, text_of

SETTINGS = {"slots": 4, "context_size": 512}
LONG = GenerateTokensParams(chat_prompt("Tell me a long story about a lighthouse."), 300, GREEDY, ignore_eog=True)


def _short(question: str) -> GenerateTokensParams:
    return GenerateTokensParams(chat_prompt(question), 12, GREEDY)


def test_a_long_request_beside_short_ones_runs_to_its_end_as_on_a_unified_engine(
    engine_factory: EngineFactory,
) -> None:
    adaptive = engine_factory(kv_layout=KvLayout.ADAPTIVE, **SETTINGS)
    long = adaptive.submit_generation(LONG)
    shorts = [adaptive.submit_generation(_short(question)) for question in ("Hi", "Name a color.", "Count to 3.")]
    results = list(long)
    assert isinstance(results[-1], GenerationDone)
    assert sum(isinstance(result, GeneratedToken) for result in results) == 300
    assert all(isinstance(list(short)[-1], GenerationDone) for short in shorts)
    assert adaptive.stats().kv_layout_switches >= 1

    unified = engine_factory(kv_layout=KvLayout.UNIFIED, **SETTINGS)
    assert text_of(results) == text_of(list(unified.submit_generation(LONG)))


def test_a_request_without_max_tokens_runs_to_the_end_of_the_pool(engine_factory: EngineFactory) -> None:
    adaptive = engine_factory(kv_layout=KvLayout.ADAPTIVE, **SETTINGS)
    request = GenerateTokensParams(chat_prompt("Write forever."), None, GREEDY, ignore_eog=True)
    results = list(adaptive.submit_generation(request))
    done = results[-1]
    assert isinstance(done, GenerationDone)
    assert done.usage.prompt_tokens + done.usage.completion_tokens >= 500  # a stream holds 128


def test_after_the_long_request_short_ones_run_on_a_stream_per_slot_again(engine_factory: EngineFactory) -> None:
    adaptive = engine_factory(kv_layout=KvLayout.ADAPTIVE, **SETTINGS)
    assert isinstance(list(adaptive.submit_generation(LONG))[-1], GenerationDone)
    to_pool = adaptive.stats().kv_layout_switches
    assert to_pool == 1
    shorts = [adaptive.submit_generation(_short(question)) for question in ("Hi", "Name a color.", "Count to 3.")]
    assert all(isinstance(list(short)[-1], GenerationDone) for short in shorts)
    assert adaptive.stats().kv_layout_switches == 2
