"""Many streams decoded together give exactly what each gives alone, and all end with Done."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from paddler.engine.engine_settings import KvLayout
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, text_of

QUESTIONS = [
    "What is the capital of France?",
    "Name three colors.",
    "What is 2 + 2?",
    "What color is the sky on a clear day?",
    "Who wrote Romeo and Juliet?",
    "List the days of the week.",
]


def test_concurrent_greedy_streams_match_sequential_ones(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=4, kv_layout=KvLayout.UNIFIED)

    def run(question: str) -> tuple[str, object]:
        # Short answers: batching changes float summation order, so long greedy texts may drift apart
        # at a near-tie; llama-server's own determinism tests rely on short factual answers too.
        results = list(engine.submit_generation(GenerateTokensParams(chat_prompt(question), 20, GREEDY)))
        return text_of(results), results[-1]

    sequential = [run(question) for question in QUESTIONS]
    with ThreadPoolExecutor(len(QUESTIONS)) as pool:
        concurrent = list(pool.map(run, QUESTIONS))
    for (alone_text, alone_end), (together_text, together_end) in zip(sequential, concurrent, strict=True):
        assert isinstance(alone_end, GenerationDone)
        assert isinstance(together_end, GenerationDone)
        assert together_text == alone_text
    assert "Paris" in sequential[0][0]
    assert len({text for text, _ in concurrent}) == len(QUESTIONS), "no cross-talk between streams"
    stats = engine.stats()
    assert stats.slots_processing == 0
    assert stats.requests_completed == 2 * len(QUESTIONS)


def test_max_tokens_is_exact_and_zero_still_yields_one(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2)
    prompt = chat_prompt("Tell me a long story about dragons.")
    for max_tokens, expected in ((5, 5), (0, 1), (-3, 1)):
        results = list(engine.submit_generation(GenerateTokensParams(prompt, max_tokens, GREEDY)))
        done = results[-1]
        assert isinstance(done, GenerationDone)
        assert done.usage.undeterminable_tokens == expected
        assert done.usage.completion_tokens == expected
        assert len(results) - 1 == expected


def test_a_long_prompt_is_ingested_in_chunks_while_another_stream_runs(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2, n_batch=64, n_ubatch=64)
    long_question = "Summarize this: " + "The river flows past the old mill and the quiet village. " * 40
    with ThreadPoolExecutor(2) as pool:
        short = pool.submit(
            lambda: list(engine.submit_generation(GenerateTokensParams(chat_prompt("Say hello."), 24, GREEDY)))
        )
        long = pool.submit(
            lambda: list(engine.submit_generation(GenerateTokensParams(chat_prompt(long_question), 16, GREEDY)))
        )
        for results in (short.result(), long.result()):
            assert isinstance(results[-1], GenerationDone)
    assert long.result()[-1].usage.prompt_tokens > 400  # type: ignore[union-attr]


def test_ignore_eog_yields_exactly_max_tokens(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    params = GenerateTokensParams(chat_prompt("Say yes."), 40, GREEDY, ignore_eog=True)
    done = list(engine.submit_generation(params))[-1]
    assert isinstance(done, GenerationDone)
    assert done.usage.completion_tokens == 40
    stopped = list(engine.submit_generation(GenerateTokensParams(chat_prompt("Say yes."), 40, GREEDY)))[-1]
    assert isinstance(stopped, GenerationDone)
    assert stopped.usage.completion_tokens < 40, "without ignore_eog the model stops by itself"
