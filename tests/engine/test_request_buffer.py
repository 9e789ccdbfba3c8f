"""RequestBuffer: bounded FIFO with deadlines; capacity 0 refuses everything."""

from __future__ import annotations

import pytest

from paddler.engine.request_buffer import RequestBuffer


def test_fifo_with_capacity() -> None:
    buffer: RequestBuffer[str] = RequestBuffer(capacity=2, timeout=10.0)
    assert buffer.push("a", "first", now=0.0)
    assert buffer.push("b", "second", now=1.0)
    assert not buffer.push("c", "third", now=2.0)
    assert len(buffer) == 2
    assert buffer.pop_oldest() == "first"
    assert buffer.pop_oldest() == "second"
    assert buffer.pop_oldest() is None


def test_zero_capacity_disables_buffering() -> None:
    buffer: RequestBuffer[str] = RequestBuffer(capacity=0, timeout=10.0)
    assert not buffer.push("a", "x", now=0.0)


def test_deadlines_expire_in_order() -> None:
    buffer: RequestBuffer[str] = RequestBuffer(capacity=5, timeout=2.0)
    buffer.push("a", "early", now=0.0)
    buffer.push("b", "late", now=1.5)
    assert buffer.next_deadline() == 2.0
    assert buffer.expire(now=1.9) == []
    assert buffer.expire(now=2.0) == ["early"]
    assert buffer.expire(now=10.0) == ["late"]
    assert buffer.next_deadline() is None


def test_removal_by_key_and_drain() -> None:
    buffer: RequestBuffer[str] = RequestBuffer(capacity=5, timeout=2.0)
    buffer.push("a", "x", now=0.0)
    buffer.push("b", "y", now=0.0)
    assert "a" in buffer
    assert buffer.remove("a") == "x"
    assert buffer.remove("a") is None
    assert buffer.drain() == ["y"]
    assert len(buffer) == 0


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        RequestBuffer(capacity=-1, timeout=1.0)
