"""PrefillBudget: a fixed budget stays fixed; the automatic one gives prompts its share of a decoding
step's time, from the step times it observed."""

from __future__ import annotations

from paddler.engine.prefill_budget import FIRST_BUDGET, MIN_BUDGET, SHARE_OF_DECODE_STEP, PrefillBudget


def test_a_fixed_budget_ignores_what_steps_cost() -> None:
    budget = PrefillBudget(32, n_batch=2048)
    budget.observe(8, 0, 0.050)
    budget.observe(0, 1000, 1.0)
    assert budget.tokens() == 32


def test_the_automatic_budget_waits_for_both_costs_before_it_moves() -> None:
    budget = PrefillBudget(0, n_batch=2048)
    assert budget.tokens() == FIRST_BUDGET
    budget.observe(8, 0, 0.050)
    assert budget.tokens() == FIRST_BUDGET


def test_the_automatic_budget_gives_prompts_their_share_of_a_decoding_step() -> None:
    budget = PrefillBudget(0, n_batch=2048)
    budget.observe(8, 0, 0.050)
    # A prompt alone: 1,000 tokens in a second, 1 ms each.
    budget.observe(0, 1000, 1.0)
    assert budget.tokens() == int(SHARE_OF_DECODE_STEP * 50)
    # A mixed step: 10 prompt tokens cost 80 ms over the 50 ms of decoding, 8 ms each; the average moves.
    budget.observe(8, 10, 0.130)
    assert MIN_BUDGET < budget.tokens() < int(SHARE_OF_DECODE_STEP * 50)


def test_the_automatic_budget_keeps_within_its_floor_and_the_batch() -> None:
    slow = PrefillBudget(0, n_batch=2048)
    slow.observe(1, 0, 0.001)
    slow.observe(0, 10, 1.0)
    assert slow.tokens() == MIN_BUDGET
    fast = PrefillBudget(0, n_batch=256)
    fast.observe(16, 0, 0.010)
    fast.observe(0, 2048, 0.002)
    assert fast.tokens() == 256
