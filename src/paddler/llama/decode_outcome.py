"""What llama_decode reported, for the states the engine must act on (fatal codes raise instead)."""

from __future__ import annotations

from enum import Enum


class DecodeOutcome(Enum):
    OK = 0
    # No KV cells free for the batch: evict a sequence or shrink the batch, then retry.
    NO_KV_SLOT = 1
    # The abort callback fired; ubatches already processed stay in the KV cache.
    ABORTED = 2
