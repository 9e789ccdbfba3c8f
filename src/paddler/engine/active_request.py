"""One generating request in a slot: what it still has to feed the model, and what it has produced and
streams to its client."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paddler.engine.model_runner import TOOL_CALLS
from paddler.engine.parse_tool_calls import ToolSchemas, parse_tool_call_block
from paddler.engine.request_phase import RequestPhase
from paddler.engine.scheduler_command import GenerateTokensCommand
from paddler.engine.shared_prefix import SharedPrefix
from paddler.engine.slot import Slot
from paddler.messages.generated_token_result import (
    GeneratedToken,
    GeneratedTokenResult,
    TokenKind,
    TokenLogprob,
    ToolCallEvent,
)
from paddler.messages.token_usage import TokenUsage

# The binding's sections, by their number.
SECTION_KINDS = (TokenKind.UNDETERMINABLE, TokenKind.CONTENT, TokenKind.REASONING, TokenKind.TOOL_CALL)
_TOOL_CALL = SECTION_KINDS.index(TokenKind.TOOL_CALL)


@dataclass(slots=True)
class ActiveRequest:
    key: int
    command: GenerateTokensCommand
    slot: Slot
    # The model runner's sampler and sequence output (the binding's SequenceOutput: the request's tokens
    # classified against the template's markers, counted per section, turned into UTF-8 text); opaque here.
    sampler: Any
    output: Any
    # Tokens to decode next: the uncached rest of the prompt, then each sampled token.
    pending: list[int]
    cached_prompt_tokens: int
    phase: RequestPhase = RequestPhase.PREFILL
    # A prefix of the prompt another slot is prefilling: the request waits for it (not scheduled), then
    # shares its cells and prefills only the rest (engine/prefix_sharing.py).
    awaited: SharedPrefix | None = None
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
    def generated(self) -> int:
        return sum(self.output.counts)

    @property
    def text_ahead(self) -> int:
        """Pending tokens that are text before the prompt's next image (all of them without images)."""
        media = self.command.media
        return len(self.pending) if media is None else media.text_ahead(self.position, len(self.pending))

    def consume(self, count: int) -> None:
        """The first `count` pending tokens are now in the KV cache."""
        self.slot.cached_tokens.extend(self.pending[:count])
        del self.pending[:count]

    def stream(self, flags: int, piece: Callable[[int], bytes], *, ending: bool = False) -> None:
        """Stream what the output's last push (or finish) produced, in one write: its text, each token's
        log-probability first when asked for (markers are counted, never streamed); a tool-call block is
        parsed once it closes, or when generation ends inside it."""
        if self.command.top_logprobs is not None:
            results = self._with_logprobs(piece)
        else:
            results = [GeneratedToken(SECTION_KINDS[section], text) for section, text in self.output.texts()]
        if self.command.parse_tool_calls and (flags & TOOL_CALLS or ending):
            results.extend(self._tool_calls())
        self.command.stream.put_all(results)

    def _with_logprobs(self, piece: Callable[[int], bytes]) -> list[GeneratedTokenResult]:
        results: list[GeneratedTokenResult] = []
        put = results.append
        for token, section, is_marker, text in self.output.decided():
            logprob = self.logprobs.popleft() if self.logprobs else None
            if is_marker:
                continue
            if logprob is not None and section != _TOOL_CALL:
                value, top = logprob
                alternatives = tuple((piece(token), token_logprob) for token, token_logprob in top)
                put(TokenLogprob(SECTION_KINDS[section], piece(token), value, alternatives))
            if text:
                put(GeneratedToken(SECTION_KINDS[section], text))
        return results

    def stream_rest(self, piece: Callable[[int], bytes]) -> None:
        """At the end: the tokens the output still held, then the bytes of an unfinished character."""
        self.stream(self.output.finish(), piece, ending=True)
        tail = self.output.flush_tail()
        if tail:
            self.command.stream.put(GeneratedToken(SECTION_KINDS[self.output.section], tail))

    def _tool_calls(self) -> list[ToolCallEvent]:
        block = self.output.take_tool_call_bytes()
        if not block:
            return []
        event = parse_tool_call_block(block.decode("utf-8", "replace"), self.tool_schemas, self.tool_calls_parsed)
        self.tool_calls_parsed += len(event.calls)
        return [event]

    def usage(self) -> TokenUsage:
        """Paddler's counts: prompt_tokens are the prompt's text tokens, images are input_image_tokens."""
        image_tokens = 0 if self.command.media is None else self.command.media.image_tokens
        pending, content, reasoning, tool_call = self.output.counts
        return TokenUsage(
            prompt_tokens=len(self.command.prompt_tokens) - image_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens,
            input_image_tokens=image_tokens,
            content_tokens=content,
            reasoning_tokens=reasoning,
            tool_call_tokens=tool_call,
            undeterminable_tokens=pending,
        )
