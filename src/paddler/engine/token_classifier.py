"""Which section of the output each generated token belongs to: content, reasoning, a tool call, or
undeterminable (no marker seen). Markers are matched on token ids; tokens that could still be the start
of a marker are held back until decided, so marker text is never streamed, though markers are counted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from paddler.engine.token_markers import TokenIds, TokenMarkers
from paddler.messages.generated_token_result import TokenKind


class Section(Enum):
    PENDING = TokenKind.UNDETERMINABLE
    CONTENT = TokenKind.CONTENT
    REASONING = TokenKind.REASONING
    TOOL_CALL = TokenKind.TOOL_CALL


@dataclass(frozen=True, slots=True)
class ClassifiedToken:
    token: int
    # The section the token counts toward in usage.
    section: Section
    # Marker tokens are counted but never streamed.
    is_marker: bool


class TokenClassifier:
    def __init__(self, markers: TokenMarkers) -> None:
        self.section = Section.PENDING
        self._held: list[int] = []
        # (token ids, kind of marker)
        self._markers: list[tuple[TokenIds, str]] = [
            (ids, kind)
            for ids, kind in (
                (markers.reasoning_open, "reasoning_open"),
                (markers.reasoning_close, "reasoning_close"),
                (markers.tool_call_open, "tool_call_open"),
                (markers.tool_call_close, "tool_call_close"),
            )
            if ids
        ]

    def replay(self, prompt: Iterable[int]) -> None:
        """Run the prompt through the machine (nothing counted), so generation starts in the section
        the rendered prompt ends in (e.g. inside `<think>`, or after an empty `<think></think>`)."""
        for token in prompt:
            self.push(token)
        self._held.clear()

    def push(self, token: int) -> list[ClassifiedToken]:
        """Classify a token; returns the tokens now decided (possibly none, possibly several)."""
        self._held.append(token)
        decided: list[ClassifiedToken] = []
        while self._held:
            marker = self._complete_marker()
            if marker is not None:
                decided.extend(self._take_marker(*marker))
                continue
            if self._could_become_marker():
                break
            decided.append(ClassifiedToken(self._held.pop(0), self.section, is_marker=False))
        return decided

    def finish(self) -> list[ClassifiedToken]:
        """Release whatever is still held, as ordinary tokens of the current section."""
        released = [ClassifiedToken(token, self.section, is_marker=False) for token in self._held]
        self._held.clear()
        return released

    def _complete_marker(self) -> tuple[TokenIds, str] | None:
        for ids, kind in self._markers:
            if tuple(self._held[: len(ids)]) == ids:
                return ids, kind
        return None

    def _could_become_marker(self) -> bool:
        held = tuple(self._held)
        return any(len(held) < len(ids) and ids[: len(held)] == held for ids, _ in self._markers)

    def _take_marker(self, ids: TokenIds, kind: str) -> list[ClassifiedToken]:
        del self._held[: len(ids)]
        if kind == "reasoning_open":
            self.section = counted = Section.REASONING
        elif kind == "tool_call_open":
            self.section = counted = Section.TOOL_CALL
        else:
            # A close marker counts toward the section it closes, or content when it closes nothing.
            closes = Section.REASONING if kind == "reasoning_close" else Section.TOOL_CALL
            counted = closes if self.section is closes else Section.CONTENT
            self.section = Section.CONTENT
        return [ClassifiedToken(token, counted, is_marker=True) for token in ids]
