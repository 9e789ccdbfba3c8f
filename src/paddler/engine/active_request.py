"""One generating request in a slot: what it still has to feed the model, and what it has produced and
streams to its client."""

from __future__ import annotations

import sys
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from paddler.engine.incremental_detokenizer import IncrementalDetokenizer
from paddler.engine.parse_tool_calls import ToolSchemas, parse_tool_call_block
from paddler.engine.request_phase import RequestPhase
from paddler.engine.scheduler_command import GenerateTokensCommand
from paddler.engine.shared_prefix import SharedPrefix
from paddler.engine.slot import Slot
from paddler.engine.token_classifier import ClassifiedToken, Section, TokenClassifier
from paddler.engine.token_markers import NO_MARKERS
from paddler.messages.generated_token_result import GeneratedToken, TokenLogprob
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
    phase: RequestPhase = RequestPhase.PREFILL
    # A prefix of the prompt another slot is prefilling: the request waits for it (not scheduled), then
    # shares its cells and prefills only the rest (engine/prefix_sharing.py).
    awaited: SharedPrefix | None = None
    detokenizer: IncrementalDetokenizer = field(default_factory=IncrementalDetokenizer)
    classifier: TokenClassifier = field(default_factory=lambda: TokenClassifier(NO_MARKERS))
    # Generated tokens per section, marker tokens included.
    counts: Counter[Section] = field(default_factory=Counter)
    # Bytes of the tool-call block being generated (markers included), parsed when it ends.
    tool_call_bytes: bytearray = field(default_factory=bytearray)
    tool_calls_parsed: int = 0
    # Log-probabilities of sampled tokens not yet streamed, in sampling order (when asked for).
    logprobs: deque[tuple[float, tuple[tuple[int, float], ...]]] = field(default_factory=deque)
    first_token_at: float | None = None
    # The request's tools, their validators built once, at the first call of each.
    tool_schemas: ToolSchemas = field(init=False)

    def __post_init__(self) -> None:
        self.tool_schemas = ToolSchemas(self.command.tools)

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

    @property
    def text_ahead(self) -> int:
        """Pending tokens that are text before the prompt's next image (all of them without images)."""
        media = self.command.media
        return len(self.pending) if media is None else media.text_ahead(self.position, len(self.pending))

    def consume(self, count: int) -> None:
        """The first `count` pending tokens are now in the KV cache."""
        self.slot.cached_tokens.extend(self.pending[:count])
        del self.pending[:count]

    def stream(
        self, decided: Sequence[ClassifiedToken], piece: Callable[[int], bytes], *, ending: bool = False
    ) -> None:
        """Count each decided token in its section and stream its text (markers are counted, never
        streamed); a tool-call block is parsed once it closes, or when generation ends inside it."""
        parsing = self.command.parse_tool_calls
        for classified in decided:
            self.counts[classified.section] += 1
            token_bytes = piece(classified.token)
            logprob = self.logprobs.popleft() if self.logprobs else None
            if parsing and classified.section is Section.TOOL_CALL:
                self.tool_call_bytes += token_bytes
            if classified.is_marker:
                continue
            if logprob is not None and classified.section is not Section.TOOL_CALL:
                value, top = logprob
                alternatives = tuple((piece(token), token_logprob) for token, token_logprob in top)
                self.command.stream.put(TokenLogprob(classified.section.value, token_bytes, value, alternatives))
            text = self.detokenizer.push(token_bytes)
            if text:
                self.command.stream.put(GeneratedToken(classified.section.value, text))
        block_closed = self.classifier.section is not Section.TOOL_CALL
        if parsing and self.tool_call_bytes and (block_closed or ending):
            self._emit_tool_calls()

    def stream_rest(self, piece: Callable[[int], bytes]) -> None:
        """At the end: the tokens the classifier still held, then the text the detokenizer still held."""
        self.stream(self.classifier.finish(), piece, ending=True)
        tail = self.detokenizer.finish()
        if tail:
            self.command.stream.put(GeneratedToken(self.classifier.section.value, tail))

    def _emit_tool_calls(self) -> None:
        event = parse_tool_call_block(
            self.tool_call_bytes.decode("utf-8", "replace"), self.tool_schemas, self.tool_calls_parsed
        )
        self.tool_calls_parsed += len(event.calls)
        self.tool_call_bytes.clear()
        self.command.stream.put(event)

    def usage(self) -> TokenUsage:
        """Paddler's counts: prompt_tokens are the prompt's text tokens, images are input_image_tokens."""
        image_tokens = 0 if self.command.media is None else self.command.media.image_tokens
        return TokenUsage(
            prompt_tokens=len(self.command.prompt_tokens) - image_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens,
            input_image_tokens=image_tokens,
            content_tokens=self.counts[Section.CONTENT],
            reasoning_tokens=self.counts[Section.REASONING],
            tool_call_tokens=self.counts[Section.TOOL_CALL],
            undeterminable_tokens=self.counts[Section.PENDING],
        )
