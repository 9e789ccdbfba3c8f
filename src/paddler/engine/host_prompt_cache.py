"""Prompt caches in host memory that no slot holds any more: when a request takes over an idle slot whose
offloaded cache it cannot use, that cache is set aside here by its tokens instead of being dropped, so
the conversation it belongs to, coming back later, finds its prefix whichever slot it is given (as
llama-server's --cache-ram does). The slots' own offloaded caches and these share one budget,
`prompt_cache_bytes`, least recently used first out (slot_cache.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(eq=False, slots=True)
class HostEntry:
    tokens: list[int]
    # The sequence's KV cells as llama_state_seq_get_data wrote them (restorable into any sequence).
    state: bytes
    # The smallest position the state holds (above 0 when a sliding window had dropped older cells).
    first_position: int
    last_used: float


class HostPromptCache:
    def __init__(self) -> None:
        self._entries: list[HostEntry] = []

    @property
    def entries(self) -> tuple[HostEntry, ...]:
        return tuple(self._entries)

    def keep(self, entry: HostEntry) -> None:
        self._entries.append(entry)

    def remove(self, entry: HostEntry) -> None:
        self._entries.remove(entry)

    def best(self, reusable: Callable[[HostEntry], int]) -> tuple[HostEntry | None, int]:
        """The entry that keeps the most prompt tokens (`reusable` counts them), most recent on ties."""
        best: tuple[int, float, HostEntry] | None = None
        for entry in self._entries:
            candidate = (reusable(entry), entry.last_used, entry)
            if candidate[0] > 0 and (best is None or candidate[:2] > best[:2]):
                best = candidate
        return (None, 0) if best is None else (best[2], best[0])


def oldest_first(held: Sequence[tuple[float, int, Callable[[], None]]], budget: int) -> None:
    """Drop (call) the least recently used of `held` (last used, bytes, drop) until the rest fit `budget`."""
    total = sum(size for _, size, _ in held)
    for _, size, drop in sorted(held, key=lambda item: item[0]):
        if total <= budget:
            return
        total -= size
        drop()
