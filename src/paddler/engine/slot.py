"""A slot: one sequence of the generation context and the tokens its KV cache holds."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Slot:
    seq_id: int
    # Tokens whose KV cells are in the cache for this sequence, in position order.
    cached_tokens: list[int] = field(default_factory=list)
    busy: bool = False
    # Requests that have taken the slot so far: tells one request in it from the next.
    taken: int = 0
    last_used: float = 0.0
    # The KV cells of cached_tokens copied to host memory while the slot is idle (unified KV only), so
    # idle caches do not lengthen every other sequence's attention; None while they live in the KV cache.
    saved_state: bytes | None = None
    # The smallest position saved_state holds (above 0 when a sliding window had dropped older cells).
    saved_first_position: int = 0

    def forget_cache(self) -> None:
        self.cached_tokens.clear()
        self.saved_state = None
        self.saved_first_position = 0
