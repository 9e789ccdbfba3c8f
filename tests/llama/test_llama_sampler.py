"""LlamaSampler parameter checks and sampling edge cases on SmolLM2."""

from __future__ import annotations

import math
from collections import Counter

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paddler.llama import (
    DecodeOutcome,
    InvalidParameterError,
    LlamaBatch,
    LlamaContext,
    LlamaModel,
    LlamaSampler,
    SequenceOutput,
    sample_and_push,
    sample_batch,
)
from paddler.llama.sequence_output import BUDGET_SPENT, SECTION_PENDING, TEXT


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("temperature", math.nan),
        ("top_p", 1.5),
        ("min_p", -0.1),
        ("typical_p", math.inf),
        ("repeat_penalty", 0.0),
        ("frequency_penalty", math.nan),
        ("penalty_last_n", -2),
        ("top_k", -1),
        ("top_k", 10**7),
        ("seed", -1),
        ("seed", 2**32),
    ],
)
def test_out_of_range_parameters_are_refused(smollm: LlamaModel, option: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=option):
        LlamaSampler(smollm.vocab, **{option: value})  # type: ignore[arg-type]


def test_sampling_needs_an_output_at_the_index(smollm: LlamaModel) -> None:
    with (
        LlamaContext(smollm, n_ctx=256, n_threads=2) as context,
        LlamaBatch(4) as batch,
        LlamaSampler(smollm.vocab, temperature=0) as sampler,
    ):
        batch.add_sequence([1, 2], 0, 0, output_last=True)
        assert context.decode(batch) is DecodeOutcome.OK
        with pytest.raises(InvalidParameterError, match="no output"):
            sampler.sample(context, 0)
        assert 0 <= sampler.sample(context, 1) < smollm.vocab.n_tokens


def test_penalties_change_the_greedy_choice(smollm: LlamaModel) -> None:
    with LlamaContext(smollm, n_ctx=256, n_threads=2) as context, LlamaBatch(32) as batch:
        batch.add_sequence(smollm.vocab.tokenize("one, one, one, one,", add_special=False), 0, 0)
        batch_index = batch.n_tokens - 1
        assert context.decode(batch) is DecodeOutcome.OK
        with LlamaSampler(smollm.vocab, temperature=0) as plain:
            favourite = plain.sample(context, batch_index)
        with LlamaSampler(smollm.vocab, temperature=0, presence_penalty=100.0) as penalised:
            penalised.accept(favourite)
            assert penalised.sample(context, batch_index) != favourite


def _penalised(logits: numpy.ndarray, window: list[int], repeat: float, frequency: float, presence: float) -> None:
    """llama.cpp's penalty rule in float32, in place: a seen token's positive logit divided by `repeat` and
    a negative one multiplied, then `frequency` taken off per occurrence in the window and `presence` once."""
    for token, count in Counter(window).items():
        logit = logits[token]
        logit = logit * numpy.float32(repeat) if logit <= 0 else logit / numpy.float32(repeat)
        logits[token] = logit - (numpy.float32(count) * numpy.float32(frequency) + numpy.float32(presence))


def _greedy_with_penalties(model: LlamaModel, repeat: float, frequency: float, presence: float, last_n: int) -> int:
    """Generate 24 tokens greedily with penalties (after a logit bias) over a repetitive prompt, checking each
    choice against llama.cpp's rule computed here; returns how many choices the penalties changed."""
    vocab = model.vocab
    prompt = vocab.tokenize("the cat and the cat and the cat and the", add_special=False)
    bias = {vocab.tokenize(" dog", add_special=False)[0]: 1.5}
    with (
        LlamaContext(model, n_ctx=128, n_threads=2) as context,
        LlamaBatch(64) as batch,
        LlamaSampler(
            vocab,
            temperature=0,
            logit_bias=bias,
            repeat_penalty=repeat,
            frequency_penalty=frequency,
            presence_penalty=presence,
            penalty_last_n=last_n,
        ) as sampler,
    ):
        for token in prompt:
            sampler.accept(token)
        window = list(prompt)
        index = batch.add_sequence(prompt, 0, 0)
        changed = 0
        for position in range(len(prompt), len(prompt) + 24):
            assert context.decode(batch) is DecodeOutcome.OK
            logits = context.get_logits(index).astype(numpy.float32)
            for token, value in bias.items():
                logits[token] += numpy.float32(value)
            plain = int(logits.argmax())
            _penalised(logits, window[max(0, len(window) - last_n) :], repeat, frequency, presence)
            token = sampler.sample(context, index)
            assert token == int(logits.argmax())
            changed += token != plain
            window.append(token)
            batch.clear()
            index = batch.add_token(token, position, 0, True)
        return changed


def test_penalties_change_the_choice_as_llama_cpps_rule_does(smollm: LlamaModel) -> None:
    """Our penalties sampler visits only the tokens in its window instead of the whole vocabulary; token
    after token it picks what llama.cpp's rule picks, and here the penalties do change the choice."""
    assert _greedy_with_penalties(smollm, 1.3, 0.4, 0.6, 6) > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    repeat=st.floats(1.0, 2.0),
    frequency=st.floats(0.0, 2.0),
    presence=st.floats(0.0, 3.0),
    last_n=st.integers(1, 20),
)
def test_penalties_follow_llama_cpps_rule_for_any_setting(
    smollm: LlamaModel, repeat: float, frequency: float, presence: float, last_n: int
) -> None:
    _greedy_with_penalties(smollm, repeat, frequency, presence, last_n)


def test_reset_rewinds_the_grammar(smollm: LlamaModel) -> None:
    vocab = smollm.vocab
    with LlamaSampler(vocab, temperature=0, grammar='root ::= "ab"') as sampler:
        assert sampler.has_grammar
        for token in vocab.tokenize("ab", add_special=False):
            sampler.accept(token)
        sampler.reset()
        for token in vocab.tokenize("ab", add_special=False):
            sampler.accept(token)
        sampler.close()
        sampler.close()
        with pytest.raises(InvalidParameterError, match="closed"):
            sampler.reset()


def test_logit_bias_forbids_and_is_checked(smollm: LlamaModel) -> None:
    with LlamaContext(smollm, n_ctx=256, n_threads=2) as context, LlamaBatch(8) as batch:
        batch.add_sequence(smollm.vocab.tokenize("The capital of France is", add_special=False), 0, 0)
        assert context.decode(batch) is DecodeOutcome.OK
        index = batch.n_tokens - 1
        with LlamaSampler(smollm.vocab, temperature=0) as plain:
            favourite = plain.sample(context, index)
        with LlamaSampler(smollm.vocab, temperature=0, logit_bias={favourite: float("-inf")}) as biased:
            assert biased.sample(context, index) != favourite
    with pytest.raises(InvalidParameterError, match="vocabulary"):
        LlamaSampler(smollm.vocab, logit_bias={-1: 1.0})
    with pytest.raises(InvalidParameterError, match="logit bias"):
        LlamaSampler(smollm.vocab, logit_bias={5: math.nan})


def test_one_call_samples_every_sequence_and_reports_only_the_rows_that_found_no_token(smollm: LlamaModel) -> None:
    vocab = smollm.vocab
    prompts = [vocab.tokenize(text, add_special=False) for text in ("The capital of France is", "One, two,")]
    forbid_end = dict.fromkeys(vocab.eog_tokens(), float("-inf"))
    with (
        LlamaContext(smollm, n_ctx=256, n_seq_max=3, n_threads=2) as context,
        LlamaBatch(32) as batch,
        LlamaSampler(vocab, temperature=0) as first,
        LlamaSampler(vocab, temperature=0) as second,
        LlamaSampler(vocab, temperature=0, grammar='root ::= "a"', logit_bias=forbid_end) as finished,
    ):
        indices = [batch.add_sequence(prompt, 0, seq_id) for seq_id, prompt in enumerate(prompts)]
        indices.append(batch.add_sequence(prompts[0], 0, 2))
        assert context.decode(batch) is DecodeOutcome.OK
        finished.accept(vocab.tokenize("a", add_special=False)[0])
        tokens, failures = sample_batch(context, [first, second, finished], indices)
        with LlamaSampler(vocab, temperature=0) as alone:
            expected = [alone.sample(context, index) for index in indices[:2]]
        assert tokens == [*expected, -1]
        assert list(failures) == [2]
        assert "no token" in failures[2]
        with pytest.raises(InvalidParameterError, match="no output"):
            sample_batch(context, [first], [0])


def test_the_same_call_pushes_each_sampled_token_into_its_output(smollm: LlamaModel) -> None:
    vocab = smollm.vocab
    prompts = [vocab.tokenize(text, add_special=False) for text in ("The capital of France is", "One, two,")]
    no_markers = (None, None, None, None)
    outputs = [SequenceOutput(vocab, no_markers), SequenceOutput(vocab, no_markers, 1)]
    with (
        LlamaContext(smollm, n_ctx=256, n_seq_max=2, n_threads=2) as context,
        LlamaBatch(32) as batch,
        LlamaSampler(vocab, temperature=0) as first,
        LlamaSampler(vocab, temperature=0) as second,
    ):
        indices = [batch.add_sequence(prompt, 0, seq_id) for seq_id, prompt in enumerate(prompts)]
        assert context.decode(batch) is DecodeOutcome.OK
        tokens, failures, events = sample_and_push(context, [first, second], indices, outputs)
        assert failures == {}
        assert events == [TEXT, TEXT | BUDGET_SPENT], "the second output's budget was one token"
        for output, token in zip(outputs, tokens, strict=True):
            assert output.texts() == [(SECTION_PENDING, vocab.token_to_piece(token).decode())]
        with pytest.raises(InvalidParameterError, match="one length"):
            sample_and_push(context, [first], indices[:1], outputs)


def test_a_plain_greedy_sampler_takes_the_argmax_as_the_sampler_chain_does(smollm: LlamaModel) -> None:
    """A greedy sampler with no grammar, penalties or bias reads the logits' argmax directly (no copy of
    the vocabulary into candidates): the same token as llama.cpp's chain, here forced by a neutral bias,
    and as numpy's argmax (the first of equals), token after token."""
    vocab = smollm.vocab
    prompt = vocab.tokenize("Once upon a time, in a land far away,", add_special=False)
    with (
        LlamaContext(smollm, n_ctx=256, n_seq_max=2, n_threads=2) as context,
        LlamaBatch(64) as batch,
        LlamaSampler(vocab, temperature=0) as direct,
        LlamaSampler(vocab, temperature=0, logit_bias={0: 0.0}) as chain,
    ):
        positions = [len(prompt), len(prompt)]
        indices = [batch.add_sequence(prompt, 0, seq_id) for seq_id in (0, 1)]
        for _ in range(24):
            assert context.decode(batch) is DecodeOutcome.OK
            tokens, failures = sample_batch(context, [direct, chain], indices)
            assert not failures
            assert tokens[0] == tokens[1] == int(context.get_logits(indices[0]).argmax())
            batch.clear()
            indices = [batch.add_token(tokens[seq_id], positions[seq_id], seq_id, True) for seq_id in (0, 1)]
            positions = [position + 1 for position in positions]
