"""One generating request in a slot: what it still has to feed the model and what it has produced."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from paddler.engine.incremental_detokenizer import IncrementalDetokenizer
from paddler.engine.scheduler_command import GenerateTokensCommand
from paddler.engine.slot import Slot
from paddler.engine.token_classifier import Section, TokenClassifier
from paddler.engine.token_markers import NO_MARKERS
from paddler.messages.token_usage import TokenUsage


@dataclass(slots=True)
class ActiveRequest:
    key: int
    command: GenerateTokensCommand
    slot: Slot
    # The model runner's sampler; opaque here so this module needs no llama import.
    sampler: Any
    # Tokens to decode next: the uncached rest of the prompt, then each sampled token.
    pending: list[int]
    cached_prompt_tokens: int
    generating: bool = False
    detokenizer: IncrementalDetokenizer = field(default_factory=IncrementalDetokenizer)
    classifier: TokenClassifier = field(default_factory=lambda: TokenClassifier(NO_MARKERS))
    # Generated tokens per section, marker tokens included.
    counts: Counter[Section] = field(default_factory=Counter)
    # Bytes of the tool-call block being generated (markers included), parsed when it ends.
    tool_call_bytes: bytearray = field(default_factory=bytearray)
    tool_calls_parsed: int = 0
    first_token_at: float | None = None

    @property
    def request_id(self) -> str:
        return self.command.request_id

    @property
    def position(self) -> int:
        """Next KV position of this sequence: everything cached so far."""
        return len(self.slot.cached_tokens)

    @property
    def token_budget(self) -> int:
        """Tokens to generate; Paddler yields one even when max_tokens <= 0."""
        if self.command.max_tokens is None:
            return sys.maxsize  # the slot's context ends the generation
        return max(1, self.command.max_tokens)

    @property
    def budget_spent(self) -> bool:
        """Paddler's rule: tool-call tokens do not count toward max_tokens."""
        counted = sum(count for section, count in self.counts.items() if section is not Section.TOOL_CALL)
        return counted >= self.token_budget

    def consume(self, count: int) -> None:
        """The first `count` pending tokens are now in the KV cache."""
        self.slot.cached_tokens.extend(self.pending[:count])
        del self.pending[:count]

    def usage(self) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=len(self.command.prompt_tokens),
            cached_prompt_tokens=self.cached_prompt_tokens,
            content_tokens=self.counts[Section.CONTENT],
            reasoning_tokens=self.counts[Section.REASONING],
            tool_call_tokens=self.counts[Section.TOOL_CALL],
            undeterminable_tokens=self.counts[Section.PENDING],
        )
