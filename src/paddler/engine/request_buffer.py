"""Requests waiting for a free slot: bounded, first come first served, each with a deadline."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

Waiting = TypeVar("Waiting")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[Waiting]):
    item: Waiting
    deadline: float


class RequestBuffer(Generic[Waiting]):
    """capacity 0 disables buffering: every push is refused."""

    def __init__(self, capacity: int, timeout: float) -> None:
        if capacity < 0 or timeout < 0:
            raise ValueError("capacity and timeout must not be negative")
        self.capacity = capacity
        self.timeout = timeout
        self._entries: OrderedDict[Hashable, _Entry[Waiting]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def push(self, key: Hashable, item: Waiting, now: float) -> bool:
        """Add to the back; False when the buffer is full."""
        if len(self._entries) >= self.capacity:
            return False
        self._entries[key] = _Entry(item, now + self.timeout)
        return True

    def pop_oldest(self) -> Waiting | None:
        if not self._entries:
            return None
        _, entry = self._entries.popitem(last=False)
        return entry.item

    def remove(self, key: Hashable) -> Waiting | None:
        entry = self._entries.pop(key, None)
        return None if entry is None else entry.item

    def expire(self, now: float) -> list[Waiting]:
        """Remove and return every request whose deadline has passed."""
        expired_keys = [key for key, entry in self._entries.items() if entry.deadline <= now]
        return [self._entries.pop(key).item for key in expired_keys]

    def next_deadline(self) -> float | None:
        return min((entry.deadline for entry in self._entries.values()), default=None)

    def drain(self) -> list[Waiting]:
        items = [entry.item for entry in self._entries.values()]
        self._entries.clear()
        return items
