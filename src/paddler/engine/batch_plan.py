"""What goes into one decode step: which tokens of which request, and where outputs are read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchEntry:
    request_key: int
    # Offset into the request's pending tokens and how many of them go into this batch.
    start: int
    count: int
    # True when the last token of this entry needs logits (a generated token, or the prompt's end).
    wants_output: bool


@dataclass(frozen=True, slots=True)
class BatchPlan:
    entries: tuple[BatchEntry, ...]

    @property
    def n_tokens(self) -> int:
        return sum(entry.count for entry in self.entries)
