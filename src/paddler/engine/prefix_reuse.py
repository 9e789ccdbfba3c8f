"""How many cached tokens a slot may keep for a new prompt, given what the model's memory can do.

An attention KV cache can be cut at any position, so the common prefix is kept. A sliding-window
cache (Gemma 2/3, gpt-oss) lets cells older than the window be overwritten, so a prefix is kept only
while the positions the next token attends to are still there. A recurrent state (Mamba, RWKV, and
the recurrent half of hybrids such as Jamba, LFM2, Granite-H, Qwen3-Next) holds one state per
sequence that cannot be rolled back, so it is kept only when the whole cache is a prefix of the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class MemoryKind(Enum):
    ATTENTION = "attention"
    SLIDING_WINDOW = "sliding_window"
    RECURRENT = "recurrent"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class SequenceMemory:
    """What a generation context's memory can do with one sequence."""

    kind: MemoryKind
    # Tokens a sliding-window layer attends to (llama_model_n_swa); 0 when no layer slides.
    window: int = 0

    @property
    def can_cut(self) -> bool:
        """Whether positions can be removed from the end of a sequence while keeping the rest."""
        return self.kind in (MemoryKind.ATTENTION, MemoryKind.SLIDING_WINDOW)


ATTENTION_ONLY = SequenceMemory(MemoryKind.ATTENTION)


def sequence_memory(*, is_recurrent: bool, is_hybrid: bool, n_swa: int) -> SequenceMemory:
    window = max(n_swa, 0)
    if is_hybrid:
        return SequenceMemory(MemoryKind.HYBRID, window)
    if is_recurrent:
        return SequenceMemory(MemoryKind.RECURRENT)
    if window > 0:
        return SequenceMemory(MemoryKind.SLIDING_WINDOW, window)
    return ATTENTION_ONLY


def common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    """How many tokens the two start with alike. Every new request compares its prompt with every slot's
    and host-cached prompt on the engine thread, so this halves slices compared in C (a ~500-token match
    in a few microseconds) instead of looping over tokens in Python."""
    # A list never equals a tuple: compare lists.
    first = first if isinstance(first, list) else list(first)
    second = second if isinstance(second, list) else list(second)
    high = min(len(first), len(second))
    if first[:high] == second[:high]:
        return high
    low = 0  # first[:low] == second[:low]; first[:high] != second[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if first[low:middle] == second[low:middle]:
            low = middle
        else:
            high = middle
    return low


def reusable_prefix(
    memory: SequenceMemory, cached_tokens: Sequence[int], prompt: Sequence[int], first_cached_position: int = 0
) -> int:
    """Cached tokens the slot keeps for `prompt`; the rest of the prompt is decoded (0: a full prefill).

    first_cached_position: the smallest position the memory still holds for the sequence
    (llama_memory_seq_pos_min), read only for sliding windows. At least one prompt token is always
    left to decode, because sampling needs the logits of the prompt's last token.
    """
    shared = min(common_prefix_length(cached_tokens, prompt), len(prompt) - 1)
    if shared <= 0:
        return 0
    if not memory.can_cut and shared < len(cached_tokens):
        return 0
    # llama.cpp's server rule: decoding position `shared` needs the window of positions before it.
    if memory.window > 0 and first_cached_position > max(0, shared - memory.window):
        return 0
    return shared
