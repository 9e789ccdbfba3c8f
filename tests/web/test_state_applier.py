"""Desired states apply one at a time, in order, the last one winning; a failing one retries until a
newer one arrives."""

from __future__ import annotations

import threading
import time

from paddler.web.shared.state_applier import StateApplier


def test_states_waiting_behind_a_running_one_collapse_into_the_last() -> None:
    applier = StateApplier()
    started, release = threading.Event(), threading.Event()
    applied: list[str] = []

    def application(name: str) -> None:
        if name == "first":
            started.set()
            release.wait(10)
        applied.append(name)

    applier.submit(lambda: application("first"))
    assert started.wait(10)
    for name in ("second", "third", "fourth"):
        applier.submit(lambda name=name: application(name))  # type: ignore[misc]
    release.set()
    assert applier.wait_idle(10)
    assert applied == ["first", "fourth"]


def test_an_application_asking_for_a_retry_runs_again_until_a_newer_one_arrives() -> None:
    applier = StateApplier()
    attempts: list[str] = []
    retried_twice = threading.Event()

    def failing() -> float:
        attempts.append("failing")
        if attempts.count("failing") == 3:
            retried_twice.set()
        return 0.01

    applier.submit(failing)
    assert retried_twice.wait(10)
    applier.submit(lambda: attempts.append("newer"))
    assert applier.wait_idle(10)
    time.sleep(0.1)
    assert attempts[-1] == "newer", "the failing one is not retried any more"


def test_an_application_that_raises_does_not_stop_the_applier() -> None:
    applier = StateApplier()
    applied: list[str] = []

    def raising() -> None:
        raise RuntimeError("boom")

    applier.submit(raising)
    assert applier.wait_idle(10)
    applier.submit(lambda: applied.append("next"))
    assert applier.wait_idle(10)
    assert applied == ["next"]
