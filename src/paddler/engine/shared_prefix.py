"""A prefix of a new prompt that another slot holds, or will hold once its own prompt is prefilled."""

from __future__ import annotations

from dataclasses import dataclass

from paddler.engine.slot import Slot


@dataclass(frozen=True, slots=True)
class SharedPrefix:
    source: Slot
    # Leading prompt tokens to take from the source.
    length: int
    # The source's Slot.taken when the prefix was found: another value means its request ended.
    taken: int

    @property
    def ready(self) -> bool:
        """The source holds the prefix in the KV cache now."""
        source = self.source
        return source.taken == self.taken and source.saved_state is None and len(source.cached_tokens) >= self.length

    @property
    def coming(self) -> bool:
        """The source's request still runs, so it will hold the prefix once its prompt is prefilled."""
        return self.source.busy and self.source.taken == self.taken
