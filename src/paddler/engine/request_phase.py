"""Where a generating request stands: still feeding its prompt, or sampling a token each step."""

from __future__ import annotations

from enum import Enum


class RequestPhase(Enum):
    # Prompt tokens go in, in chunks as the batch has room; no token is sampled yet.
    PREFILL = "prefill"
    # One sampled token per step goes in, and the next is sampled from its logits.
    GENERATING = "generating"
