"""Faults injected at chosen engine steps under load: the requests that were running end once with a clear
error, waiting requests are served by the rebuilt engine, nothing hangs, and faults that come too often
stop the restarts with a reason."""

from __future__ import annotations

import threading
import time

import pytest

from paddler.engine.engine_errors import EngineUnavailableError
from paddler.engine.engine_state import EngineState
from paddler.engine.injected_fault import FaultKind, InjectedFault, parse_injected_faults
from paddler.engine.result_stream import ResultStream
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedTokenResult, GenerationDone
from paddler.messages.request_rejected import ENGINE_FAULT, RequestRejected
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, text_of, wait_for

LONG = GenerateTokensParams(chat_prompt("Write a very long essay about mountains."), 400, GREEDY)
SHORT = GenerateTokensParams(chat_prompt("Name three colours."), 8, GREEDY)
SUBMISSIONS_PER_THREAD = 60


def results_of(
    stream: ResultStream[GeneratedTokenResult], timeout: float = 60.0, settle: float = 0.05
) -> list[GeneratedTokenResult]:
    """Every result up to the terminal one; queue.Empty (a failed test, never a hang) if it does not come.
    After the terminal result nothing more may arrive."""
    results: list[GeneratedTokenResult] = []
    deadline = time.monotonic() + timeout
    while not results or not results[-1].is_terminal:
        results.append(stream.get(timeout=max(0.0, deadline - time.monotonic())))
    time.sleep(settle)
    assert stream._results.empty(), "a request was answered after its terminal result"
    return results


def _reference_text(engine_factory: EngineFactory, params: GenerateTokensParams) -> str:
    return text_of(results_of(engine_factory().submit_generation(params)))


@pytest.mark.parametrize("kind", [FaultKind.RAISE, FaultKind.DECODE_ERROR])
def test_running_requests_end_once_and_waiting_ones_are_served_by_the_rebuilt_engine(
    engine_factory: EngineFactory, kind: FaultKind
) -> None:
    reference = _reference_text(engine_factory, SHORT)
    engine = engine_factory(slots=2, buffered_request_timeout=60.0, injected_faults=(InjectedFault(6, kind),))
    running = [engine.submit_generation(LONG) for _ in range(2)]
    waiting = engine.submit_generation(SHORT)

    assert [results_of(stream)[-1] for stream in running] == [ENGINE_FAULT, ENGINE_FAULT]
    waited = results_of(waiting)
    assert isinstance(waited[-1], GenerationDone)
    assert text_of(waited) == reference, "the rebuilt engine answers as a fresh one"
    assert text_of(results_of(engine.submit_generation(SHORT))) == reference
    assert engine.state is EngineState.READY
    stats = engine.stats()
    assert stats.engine_restarts == 1
    assert (stats.slots_processing, stats.buffered_requests) == (0, 0)
    fault = engine.last_fault
    assert fault is not None
    expected = "InjectedFaultError" if kind is FaultKind.RAISE else "llama_decode failed with code -"
    assert expected in fault[0]


def test_a_stalled_step_marks_the_engine_stalled_and_then_every_request_completes(
    engine_factory: EngineFactory,
) -> None:
    reference = _reference_text(engine_factory, SHORT)
    engine = engine_factory(stall_seconds=0.3, injected_faults=(InjectedFault(3, FaultKind.STALL, 2.0),))
    streams = [engine.submit_generation(SHORT) for _ in range(3)]
    assert wait_for(lambda: engine.stalled, timeout=5.0)
    for stream in streams:
        assert text_of(results_of(stream)) == reference
    assert not engine.stalled
    assert engine.stats().engine_restarts == 0


def test_faults_too_often_stop_the_restarts_and_every_waiting_caller_is_answered(
    engine_factory: EngineFactory,
) -> None:
    faults = tuple(InjectedFault(step, FaultKind.RAISE) for step in (2, 4, 6, 8))
    engine = engine_factory(slots=1, max_buffered_requests=10, buffered_request_timeout=60.0, injected_faults=faults)
    streams = [engine.submit_generation(LONG) for _ in range(6)]
    ends = [results_of(stream)[-1] for stream in streams]

    assert ends[:4] == [ENGINE_FAULT] * 4
    for end in ends[4:]:
        assert isinstance(end, RequestRejected)
        assert end.code == 503
        assert "faulted 4 times" in end.description
    assert engine.state is EngineState.FAILED
    assert engine.failure is not None
    assert "will not restart" in engine.failure
    assert engine.stats().engine_restarts == 3
    with pytest.raises(EngineUnavailableError):
        engine.submit_generation(SHORT)
    started = time.monotonic()
    engine.stop(timeout=5.0)
    assert time.monotonic() - started < 3.0


def test_no_request_submitted_around_a_stop_waits_forever(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2, max_buffered_requests=4)
    streams: list[ResultStream[GeneratedTokenResult]] = []

    def submit_until_refused() -> None:
        for _ in range(SUBMISSIONS_PER_THREAD):
            try:
                streams.append(engine.submit_generation(SHORT))
            except EngineUnavailableError:
                return
            time.sleep(0.01)

    submitters = [threading.Thread(target=submit_until_refused) for _ in range(3)]
    for submitter in submitters:
        submitter.start()
    time.sleep(0.3)
    engine.stop(timeout=1.0)
    for submitter in submitters:
        submitter.join(10.0)
    assert streams
    for stream in streams:
        end = results_of(stream, timeout=10.0, settle=0.0)[-1]
        assert isinstance(end, GenerationDone | RequestRejected)
    assert engine.state is EngineState.STOPPED


def test_a_client_leaving_during_a_long_prefill_stops_its_compute_within_a_second(
    engine_factory: EngineFactory,
) -> None:
    engine = engine_factory(slots=1, n_batch=2048, n_ubatch=512)
    long_prompt = chat_prompt("Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 160)
    stream = engine.submit_generation(GenerateTokensParams(long_prompt, 4, GREEDY))
    assert wait_for(lambda: engine._status.step_started_at is not None, timeout=5.0)
    time.sleep(0.2)
    left_at = time.monotonic()
    stream.close()
    assert wait_for(lambda: engine.stats().slots_processing == 0, timeout=5.0)
    assert time.monotonic() - left_at < 1.0
    stats = engine.stats()
    assert (stats.requests_cancelled, stats.requests_completed) == (1, 0), "a cancelled request is not completed"
    assert isinstance(results_of(engine.submit_generation(SHORT))[-1], GenerationDone)


def test_injected_faults_are_read_from_their_text_form() -> None:
    assert parse_injected_faults(" 3:raise, 7:decode_error,12:stall=2.5 ") == (
        InjectedFault(3, FaultKind.RAISE),
        InjectedFault(7, FaultKind.DECODE_ERROR),
        InjectedFault(12, FaultKind.STALL, 2.5),
    )
    for bad in ("x:raise", "3:explode", "0:raise", "3:stall=-1"):
        with pytest.raises(ValueError, match="bad injected fault"):
            parse_injected_faults(bad)
