"""Generation on SmolLM2 through the binding: determinism, batching, embeddings, grammar, the GIL."""

from __future__ import annotations

import threading
import time

import numpy
import pytest

from paddler.llama import (
    DecodeOutcome,
    GrammarError,
    LlamaBatch,
    LlamaContext,
    LlamaModel,
    LlamaSampler,
    SamplingError,
)

from .generation import generate, prompt_tokens


def test_model_describes_itself(smollm: LlamaModel) -> None:
    assert smollm.n_embd == 576
    assert smollm.n_layer == 30
    assert 130_000_000 < smollm.n_params < 140_000_000
    assert smollm.size_bytes > 50_000_000
    assert smollm.n_ctx_train == 8192
    assert smollm.vocab.type == "bpe"
    assert "llama" in smollm.description
    assert smollm.metadata["general.architecture"] == "llama"
    assert smollm.chat_template is not None
    assert "<|im_start|>" in smollm.chat_template
    assert smollm.metadata["tokenizer.chat_template"] == smollm.chat_template


def test_greedy_generation_is_deterministic_and_readable(smollm: LlamaModel) -> None:
    prompt = prompt_tokens(smollm, "What is the capital of France?")
    outputs = []
    for _ in range(2):
        with (
            LlamaContext(smollm, n_ctx=1024, n_threads=2) as context,
            LlamaSampler(smollm.vocab, temperature=0) as sampler,
        ):
            outputs.append(smollm.vocab.detokenize(generate(smollm, context, sampler, prompt, max_tokens=40)))
    assert outputs[0] == outputs[1]
    assert "Paris" in outputs[0]
    assert outputs[0].isascii()


def test_seeded_sampling_repeats_with_the_same_seed(smollm: LlamaModel) -> None:
    prompt = prompt_tokens(smollm, "Tell me a short story about a robot.")
    texts = []
    for seed in (7, 7, 8):
        with (
            LlamaContext(smollm, n_ctx=1024, n_threads=2) as context,
            LlamaSampler(smollm.vocab, temperature=1.0, top_k=50, top_p=0.95, seed=seed) as sampler,
        ):
            assert sampler.seed == seed
            texts.append(smollm.vocab.detokenize(generate(smollm, context, sampler, prompt, max_tokens=24)))
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_two_sequences_in_one_batch_match_each_decoded_alone(smollm: LlamaModel) -> None:
    questions = ["What is the capital of France?", "Name three colors."]
    prompts = [prompt_tokens(smollm, question) for question in questions]
    alone = []
    for prompt in prompts:
        with (
            LlamaContext(smollm, n_ctx=1024, n_threads=2) as context,
            LlamaSampler(smollm.vocab, temperature=0) as sampler,
        ):
            alone.append(generate(smollm, context, sampler, prompt, max_tokens=16))

    together: list[list[int]] = [[], []]
    with LlamaContext(smollm, n_ctx=2048, n_seq_max=2, n_threads=2) as context, LlamaBatch(512) as batch:
        samplers = [LlamaSampler(smollm.vocab, temperature=0) for _ in prompts]
        output_index = [batch.add_sequence(prompt, 0, seq_id) for seq_id, prompt in enumerate(prompts)]
        positions = [len(prompt) for prompt in prompts]
        while any(len(tokens) < 16 for tokens in together):
            assert context.decode(batch) is DecodeOutcome.OK
            sampled = [sampler.sample(context, index) for sampler, index in zip(samplers, output_index, strict=True)]
            batch.clear()
            active = [seq_id for seq_id in range(2) if len(together[seq_id]) < 16]
            for seq_id in active:
                together[seq_id].append(sampled[seq_id])
            still = [seq_id for seq_id in active if len(together[seq_id]) < 16]
            if not still:
                break
            start = batch.fill(
                [sampled[seq_id] for seq_id in still],
                [positions[seq_id] for seq_id in still],
                still,
                [True] * len(still),
            )
            for offset, seq_id in enumerate(still):
                output_index[seq_id] = start + offset
                positions[seq_id] += 1
    for seq_id, expected in enumerate(alone):
        assert together[seq_id][: len(expected)] == expected[:16]


def test_embeddings_have_n_embd_floats(smollm: LlamaModel) -> None:
    tokens = smollm.vocab.tokenize("Embeddings turn text into vectors.", add_special=True)
    with (
        LlamaContext(smollm, n_ctx=512, n_seq_max=2, embeddings=True, pooling="mean", n_threads=2) as context,
        LlamaBatch(256) as batch,
    ):
        batch.add_sequence(tokens, 0, 0)
        batch.add_sequence(smollm.vocab.tokenize("Something else entirely.", add_special=True), 0, 1)
        assert context.decode(batch) is DecodeOutcome.OK
        first = context.get_sequence_embeddings(0)
        second = context.get_sequence_embeddings(1)
    assert first.shape == (smollm.n_embd,)
    assert first.dtype == numpy.float32
    assert numpy.isfinite(first).all()
    assert not numpy.allclose(first, second)


def test_token_embeddings_without_pooling(smollm: LlamaModel) -> None:
    tokens = smollm.vocab.tokenize("one two three", add_special=False)
    with (
        LlamaContext(smollm, n_ctx=256, embeddings=True, pooling="none", n_threads=2) as context,
        LlamaBatch(16) as batch,
    ):
        batch.fill(tokens, range(len(tokens)), [0] * len(tokens), [True] * len(tokens))
        assert context.decode(batch) is DecodeOutcome.OK
        vectors = [context.get_embeddings(index) for index in range(len(tokens))]
    assert all(vector.shape == (smollm.n_embd,) for vector in vectors)


def test_grammar_constrains_output(smollm: LlamaModel) -> None:
    prompt = prompt_tokens(smollm, "Write a long poem about the sea.")
    grammar = 'root ::= "answer: " ("yes" | "no") "."'
    for seed in (1, 2, 3):
        with (
            LlamaContext(smollm, n_ctx=1024, n_threads=2) as context,
            LlamaSampler(smollm.vocab, temperature=1.5, seed=seed, grammar=grammar) as sampler,
        ):
            text = smollm.vocab.detokenize(generate(smollm, context, sampler, prompt, max_tokens=20))
        assert text in ("answer: yes.", "answer: no.")


@pytest.mark.parametrize(
    ("grammar", "reason"),
    [
        ('root ::= "unterminated', "unexpected end of input"),
        ("root ::= undefined-rule", "undefined rule 'undefined-rule'"),
        ("root ::= under_score", "expecting newline or end"),
        ('other ::= "x"', "root"),
        ("root ::= " + "(" * 300 + '"x"' + ")" * 300, "nests"),
        ('root ::= root "a"', "left recursion"),
        ('root ::= (("a"{1,100}){1,100}){1,100}', "exceeds sane defaults"),
    ],
)
def test_bad_grammar_is_an_exception_with_llama_cpp_reason(smollm: LlamaModel, grammar: str, reason: str) -> None:
    with pytest.raises(GrammarError, match=reason):
        LlamaSampler(smollm.vocab, grammar=grammar)


def test_grammar_refuses_a_forbidden_token_instead_of_aborting(smollm: LlamaModel) -> None:
    vocab = smollm.vocab
    assert vocab.eos is not None
    with LlamaSampler(vocab, temperature=0, grammar='root ::= "yes"') as sampler:
        with pytest.raises(SamplingError, match="grammar"):
            sampler.accept(vocab.eos)  # end of generation before the grammar is complete
        with pytest.raises(SamplingError):
            sampler.accept(vocab.tokenize(" banana", add_special=False)[0])
        for token in vocab.tokenize("yes", add_special=False):
            sampler.accept(token)
        sampler.accept(vocab.eos)  # now the grammar is complete, so the end is allowed


def test_decode_releases_the_gil(smollm: LlamaModel) -> None:
    counter = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            counter[0] += 1

    tokens = smollm.vocab.tokenize("The quick brown fox jumps over the lazy dog. " * 40, add_special=True)[:512]
    with LlamaContext(smollm, n_ctx=1024, n_batch=512, n_threads=1) as context, LlamaBatch(512) as batch:
        batch.add_sequence(tokens, 0, 0)
        counter_thread = threading.Thread(target=count)
        counter_thread.start()
        try:
            time.sleep(0.05)
            before = counter[0]
            started = time.perf_counter()
            assert context.decode(batch) is DecodeOutcome.OK
            elapsed = time.perf_counter() - started
            during = counter[0] - before
        finally:
            stop.set()
            counter_thread.join()
    assert elapsed > 0.02
    # Holding the GIL for the whole decode would leave the counter almost still.
    assert during > 1000, f"only {during} increments in {elapsed:.3f} s of decode"
