"""schedule_batch: decode tokens first, then prompt chunks in arrival order, never above n_batch, and
no more prompt tokens than the prefill budget while any request generates."""

from __future__ import annotations

from paddler.engine.schedule_batch import SchedulableRequest, schedule_batch


def _request(key: int, pending: int, generating: bool) -> SchedulableRequest:
    return SchedulableRequest(request_key=key, pending_tokens=pending, generating=generating, prefill_tokens=pending)


def test_generating_requests_come_first_then_prompt_chunks_fill_the_rest() -> None:
    plan = schedule_batch(
        [_request(0, 300, False), _request(1, 1, True), _request(2, 1, True)],
        n_batch=128,
        prefill_budget=1024,
        long_prompt=512,
    )
    assert [(entry.request_key, entry.count, entry.wants_output) for entry in plan.entries] == [
        (1, 1, True),
        (2, 1, True),
        (0, 126, False),
    ]
    assert plan.n_tokens == 128


def test_a_prompt_that_fits_asks_for_output_at_its_end() -> None:
    plan = schedule_batch(
        [_request(0, 40, False), _request(1, 50, False)], n_batch=128, prefill_budget=1024, long_prompt=512
    )
    assert [(entry.request_key, entry.count, entry.wants_output) for entry in plan.entries] == [
        (0, 40, True),
        (1, 50, True),
    ]


def test_a_long_prompt_never_stalls_running_streams() -> None:
    requests = [_request(0, 10_000, False)] + [_request(key, 1, True) for key in range(1, 17)]
    plan = schedule_batch(requests, n_batch=64, prefill_budget=1024, long_prompt=512)
    generating = [entry for entry in plan.entries if entry.request_key != 0]
    assert len(generating) == 16
    assert plan.entries[-1].request_key == 0
    assert plan.entries[-1].count == 48
    assert not plan.entries[-1].wants_output


def test_later_prompts_wait_when_the_batch_is_full() -> None:
    plan = schedule_batch(
        [_request(0, 128, False), _request(1, 10, False)], n_batch=128, prefill_budget=1024, long_prompt=512
    )
    assert [entry.request_key for entry in plan.entries] == [0]


def test_nothing_to_do_gives_an_empty_plan() -> None:
    assert schedule_batch([], n_batch=16, prefill_budget=16, long_prompt=512).entries == ()


def test_long_prompts_get_only_the_prefill_budget_while_streams_generate_and_short_ones_go_whole() -> None:
    requests = [_request(0, 2000, False), _request(1, 1, True), _request(3, 900, False), _request(2, 300, False)]
    plan = schedule_batch(requests, n_batch=2048, prefill_budget=64, long_prompt=512)
    assert [(entry.request_key, entry.count, entry.wants_output) for entry in plan.entries] == [
        (1, 1, True),
        (0, 64, False),
        (2, 300, True),
    ]


def test_a_long_prompt_stays_chunked_to_its_end() -> None:
    tail = SchedulableRequest(request_key=0, pending_tokens=100, generating=False, prefill_tokens=2000)
    plan = schedule_batch([tail, _request(1, 1, True)], n_batch=2048, prefill_budget=64, long_prompt=512)
    assert [(entry.request_key, entry.count) for entry in plan.entries] == [(1, 1), (0, 64)]


def test_prompts_fill_the_batch_when_nothing_generates() -> None:
    plan = schedule_batch(
        [_request(0, 2000, False), _request(1, 100, False)], n_batch=2048, prefill_budget=64, long_prompt=512
    )
    assert [(entry.request_key, entry.count) for entry in plan.entries] == [(0, 2000), (1, 48)]
