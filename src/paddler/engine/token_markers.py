"""The section markers of a chat-template family (thinking and tool-call tags), found in the template
text and turned into token-id sequences once per template, so the classifier matches ids, not text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenIds = tuple[int, ...]

# (fingerprint in the template, opening text, closing text or None); first match wins per kind.
_REASONING_FAMILIES = (
    ("<think>", "<think>", "</think>"),
    ("[THINK]", "[THINK]", "[/THINK]"),
    ("<|channel>", "<|channel>thought", "<channel|>"),
)
_TOOL_CALL_FAMILIES = (
    ("<|tool_call>", "<|tool_call>", "<tool_call|>"),
    ("<tool_call>", "<tool_call>", "</tool_call>"),
    ("[TOOL_CALLS]", "[TOOL_CALLS]", None),
)
# Templates of the <tool_call> family whose calls are not a JSON object inside the tags.
_NON_JSON_TOOL_CALLS = ("<function=", "<arg_key>")


@dataclass(frozen=True, slots=True)
class TokenMarkers:
    reasoning_open: TokenIds | None = None
    reasoning_close: TokenIds | None = None
    tool_call_open: TokenIds | None = None
    tool_call_close: TokenIds | None = None
    # The calls are a JSON object between the tool-call markers (the form a call can be forced in).
    tool_call_json: bool = False

    @property
    def any(self) -> bool:
        return any((self.reasoning_open, self.reasoning_close, self.tool_call_open, self.tool_call_close))


NO_MARKERS = TokenMarkers()


def _family(template: str, families: Sequence[tuple[str, str, str | None]]) -> tuple[str, str | None] | None:
    for fingerprint, opening, closing in families:
        if fingerprint in template:
            return opening, closing
    return None


def markers_for_template(template: str | None, tokenize: Callable[[str], list[int]]) -> TokenMarkers:
    """`tokenize` must parse special tokens, so a marker that is one special token stays one id."""
    if not template:
        return NO_MARKERS

    def ids(text: str | None) -> TokenIds | None:
        return tuple(tokenize(text)) if text else None

    reasoning = _family(template, _REASONING_FAMILIES)
    tool_call = _family(template, _TOOL_CALL_FAMILIES)
    return TokenMarkers(
        reasoning_open=ids(reasoning[0]) if reasoning else None,
        reasoning_close=ids(reasoning[1]) if reasoning else None,
        tool_call_open=ids(tool_call[0]) if tool_call else None,
        tool_call_close=ids(tool_call[1]) if tool_call else None,
        tool_call_json=tool_call is not None
        and tool_call[0] == "<tool_call>"
        and not any(fingerprint in template for fingerprint in _NON_JSON_TOOL_CALLS),
    )
