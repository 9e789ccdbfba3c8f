"""How many prompt tokens one step may add while other requests generate (chunked prefill).

A fixed number, or, by default, sized from what steps cost on this machine and model: prompt tokens
whose expected cost is two fifths of a step of decoding alone, so the running streams' inter-token
latency grows by about that much on average while a long prompt is prefilled, and its 95th percentile,
which the host's noise adds to, stays well under twice its value. On a CPU a prompt token late in a long
prompt costs more than a decoded one (with a KV stream per slot its chunk is a micro-batch of its own:
8 ms a token at position 1,000, beside a 33 ms step of 8 streams), so that is a few tokens a step; on a
GPU, hundreds.
"""

from __future__ import annotations

# Prompt work a step may add, as a share of a decode-only step's time.
SHARE_OF_DECODE_STEP = 0.4
# The budget before any step was timed, and its floor: a prompt always moves on. A floor of 4 held the
# share at 2x a step on this CPU with a stream per slot (4 x 8 ms beside a 33 ms step).
FIRST_BUDGET = 64
MIN_BUDGET = 2
# Weight of the newest observation in the running averages.
SMOOTHING = 0.2


def _average(previous: float | None, value: float) -> float:
    return value if previous is None else previous + SMOOTHING * (value - previous)


class PrefillBudget:
    """`fixed` > 0 pins the budget; 0 sizes it from the steps observed."""

    def __init__(self, fixed: int, n_batch: int) -> None:
        self._fixed = fixed
        self._n_batch = n_batch
        self._decode_step_seconds: float | None = None
        self._prompt_token_seconds: float | None = None

    def tokens(self) -> int:
        if self._fixed > 0:
            return self._fixed
        if self._decode_step_seconds is None or self._prompt_token_seconds is None:
            return FIRST_BUDGET
        affordable = SHARE_OF_DECODE_STEP * self._decode_step_seconds / self._prompt_token_seconds
        return max(MIN_BUDGET, min(self._n_batch, int(affordable)))

    def observe(self, decode_tokens: int, prompt_tokens: int, seconds: float) -> None:
        """A step decoded `decode_tokens` generated tokens and `prompt_tokens` prompt tokens in
        `seconds` (llama_decode's time)."""
        if prompt_tokens == 0:
            if decode_tokens > 0:
                self._decode_step_seconds = _average(self._decode_step_seconds, seconds)
            return
        prompt_seconds = seconds
        if decode_tokens > 0:
            if self._decode_step_seconds is None:
                return
            prompt_seconds = seconds - self._decode_step_seconds
        per_token = max(prompt_seconds, 0.0) / prompt_tokens
        if per_token > 0:
            self._prompt_token_seconds = _average(self._prompt_token_seconds, per_token)
