"""schedule_batch: decode tokens first, then prompt chunks in arrival order, never above n_batch, no
more prompt tokens than the prefill budget while any request generates, and no micro-batch past the one
the step's first completed prompt ends in."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from paddler.engine.schedule_batch import SchedulableRequest, schedule_batch


def _request(key: int, pending: int, generating: bool) -> SchedulableRequest:
    return SchedulableRequest(request_key=key, pending_tokens=pending, generating=generating, prefill_tokens=pending)


def test_generating_requests_come_first_then_prompt_chunks_fill_the_rest() -> None:
    plan = schedule_batch(
        [_request(0, 300, False), _request(1, 1, True), _request(2, 1, True)],
        n_batch=128,
        prefill_budget=1024,
        n_ubatch=512,
    )
    assert [(entry.request_key, entry.count, entry.wants_output) for entry in plan.entries] == [
        (1, 1, True),
        (2, 1, True),
        (0, 126, False),
    ]
    assert plan.n_tokens == 128


def test_a_prompt_that_fits_asks_for_output_at_its_end() -> None:
    plan = schedule_batch(
        [_request(0, 40, False), _request(1, 50, False)], n_batch=128, prefill_budget=1024, n_ubatch=512
    )
    assert [(entry.request_key, entry.count, entry.wants_output) for entry in plan.entries] == [
        (0, 40, True),
        (1, 50, True),
    ]


def test_a_long_prompt_never_stalls_running_streams() -> None:
    requests = [_request(0, 10_000, False)] + [_request(key, 1, True) for key in range(1, 17)]
    plan = schedule_batch(requests, n_batch=64, prefill_budget=1024, n_ubatch=512)
    generating = [entry for entry in plan.entries if entry.request_key != 0]
    assert len(generating) == 16
    assert plan.entries[-1].request_key == 0
    assert plan.entries[-1].count == 48
    assert not plan.entries[-1].wants_output


def test_later_prompts_wait_when_the_batch_is_full() -> None:
    plan = schedule_batch(
        [_request(0, 128, False), _request(1, 10, False)], n_batch=128, prefill_budget=1024, n_ubatch=512
    )
    assert [entry.request_key for entry in plan.entries] == [0]


def test_nothing_to_do_gives_an_empty_plan() -> None:
    assert schedule_batch([], n_batch=16, prefill_budget=16, n_ubatch=512).entries == ()


def test_long_prompts_get_only_the_prefill_budget_while_streams_generate_and_short_ones_go_whole() -> None:
    requests = [_request(0, 2000, False), _request(1, 1, True), _request(3, 900, False), _request(2, 300, False)]
    plan = schedule_batch(requests, n_batch=2048, prefill_budget=64, n_ubatch=512)
    assert [(entry.request_key, entry.count, entry.wants_output) for entry in plan.entries] == [
        (1, 1, True),
        (0, 64, False),
        (2, 300, True),
    ]


def test_a_long_prompt_stays_chunked_to_its_end() -> None:
    tail = SchedulableRequest(request_key=0, pending_tokens=100, generating=False, prefill_tokens=2000)
    plan = schedule_batch([tail, _request(1, 1, True)], n_batch=2048, prefill_budget=64, n_ubatch=512)
    assert [(entry.request_key, entry.count) for entry in plan.entries] == [(1, 1), (0, 64)]


def test_prompts_fill_the_batch_when_nothing_generates() -> None:
    plan = schedule_batch(
        [_request(0, 2000, False), _request(1, 100, False)], n_batch=2048, prefill_budget=64, n_ubatch=512
    )
    assert [(entry.request_key, entry.count) for entry in plan.entries] == [(0, 2000), (1, 48)]


def test_a_burst_of_short_prompts_stops_with_the_micro_batch_its_first_prompt_completes_in() -> None:
    burst = [_request(key, 100, False) for key in range(8)]
    plan = schedule_batch(burst, n_batch=2048, prefill_budget=64, n_ubatch=512)
    assert [(entry.request_key, entry.count, entry.wants_output) for entry in plan.entries] == [
        (key, 100, True) for key in range(5)
    ]


def test_prompts_arriving_beside_running_streams_fill_one_micro_batch_with_them() -> None:
    requests = [_request(key, 1, True) for key in range(15)] + [_request(key, 80, False) for key in range(15, 23)]
    plan = schedule_batch(requests, n_batch=2048, prefill_budget=64, n_ubatch=512)
    assert [entry.request_key for entry in plan.entries] == list(range(21))
    assert plan.n_tokens == 15 + 6 * 80


def test_a_long_prompt_behind_a_completed_one_takes_the_rest_of_its_micro_batch() -> None:
    plan = schedule_batch(
        [_request(0, 80, False), _request(1, 300, False), _request(2, 2000, False)],
        n_batch=2048,
        prefill_budget=64,
        n_ubatch=512,
    )
    assert [(entry.request_key, entry.count) for entry in plan.entries] == [(0, 80), (1, 300), (2, 132)]


_requests = st.lists(
    st.tuples(st.booleans(), st.integers(1, 3000), st.integers(0, 3000)).map(
        lambda drawn: SchedulableRequest(
            request_key=0,
            pending_tokens=1 if drawn[0] else drawn[1],
            generating=drawn[0],
            prefill_tokens=max(drawn[1], drawn[2]),
        )
    ),
    max_size=40,
)


@given(
    drawn=_requests,
    n_ubatch=st.sampled_from([32, 128, 512]),
    ubatches_per_batch=st.integers(1, 8),
    prefill_budget=st.integers(1, 600),
)
def test_every_plan_keeps_the_rules(
    drawn: list[SchedulableRequest], n_ubatch: int, ubatches_per_batch: int, prefill_budget: int
) -> None:
    n_batch = n_ubatch * ubatches_per_batch
    # Never more running streams than n_batch (the settings keep slots <= n_batch).
    running = [request for request in drawn if request.generating][:n_batch]
    kept = [request for request in drawn if not request.generating or any(request is other for other in running)]
    requests = [replace(request, request_key=key) for key, request in enumerate(kept)]
    generating = [request for request in requests if request.generating]
    plan = schedule_batch(requests, n_batch, prefill_budget, n_ubatch)
    by_key = {request.request_key: request for request in requests}
    decodes = [entry for entry in plan.entries if by_key[entry.request_key].generating]
    prompts = [entry for entry in plan.entries if not by_key[entry.request_key].generating]
    # Every running stream gets its token, first; nothing goes past n_batch or a request's pending tokens.
    assert [entry.request_key for entry in decodes] == [request.request_key for request in generating]
    assert plan.entries[: len(decodes)] == tuple(decodes)
    assert plan.n_tokens <= n_batch
    assert all(0 < entry.count <= by_key[entry.request_key].pending_tokens for entry in prompts)
    assert [entry.request_key for entry in prompts] == sorted(entry.request_key for entry in prompts)
    # Only the end of a prompt asks for output.
    assert all(entry.wants_output == (entry.count == by_key[entry.request_key].pending_tokens) for entry in prompts)
    # While streams run, long prompts together stay within the prefill budget.
    if decodes:
        long_tokens = sum(entry.count for entry in prompts if by_key[entry.request_key].prefill_tokens > n_ubatch)
        assert long_tokens <= prefill_budget
    # The step ends with the micro-batch its first completed prompt ends in.
    seen = len(decodes)
    for entry in prompts:
        seen += entry.count
        if entry.wants_output:
            assert plan.n_tokens <= -(-seen // n_ubatch) * n_ubatch
            break
    # A prompt always moves on when there is room: the first one waiting gets tokens.
    waiting = [request for request in requests if not request.generating]
    if waiting and len(decodes) < n_batch:
        assert prompts
        assert prompts[0].request_key == waiting[0].request_key
