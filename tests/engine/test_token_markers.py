"""Marker discovery: a template family's thinking and tool-call tags as token ids."""

from __future__ import annotations

from paddler.engine.token_markers import NO_MARKERS, markers_for_template


def test_markers_come_from_the_template_family() -> None:
    def tokenize(text: str) -> list[int]:
        return [ord(character) for character in text]

    qwen = markers_for_template("{% if enable_thinking %}<think>{% endif %}<tool_call>", tokenize)
    assert qwen.reasoning_open == tuple(map(ord, "<think>"))
    assert qwen.tool_call_close == tuple(map(ord, "</tool_call>"))
    mistral = markers_for_template("[THINK] ... [TOOL_CALLS]", tokenize)
    assert mistral.reasoning_close == tuple(map(ord, "[/THINK]"))
    assert mistral.tool_call_close is None
    assert not markers_for_template("{{ messages }}", tokenize).any
    assert markers_for_template(None, tokenize) == NO_MARKERS
