"""TokenClassifier and marker discovery: sections by token ids, markers held back, counted, never streamed."""

from __future__ import annotations

from paddler.engine.token_classifier import ClassifiedToken, Section, TokenClassifier
from paddler.engine.token_markers import NO_MARKERS, TokenMarkers, markers_for_template

# Reasoning <think>=(1, 2) </think>=(3, 2); tool call <tool_call>=(1, 4) </tool_call>=(3, 4).
MARKERS = TokenMarkers(reasoning_open=(1, 2), reasoning_close=(3, 2), tool_call_open=(1, 4), tool_call_close=(3, 4))


def _run(classifier: TokenClassifier, tokens: list[int]) -> list[ClassifiedToken]:
    decided = [item for token in tokens for item in classifier.push(token)]
    return decided + classifier.finish()


def _summary(decided: list[ClassifiedToken]) -> list[tuple[int, str, bool]]:
    return [(item.token, item.section.name, item.is_marker) for item in decided]


def test_without_markers_everything_is_undeterminable() -> None:
    classifier = TokenClassifier(NO_MARKERS)
    assert _summary(_run(classifier, [1, 2, 3])) == [
        (1, "PENDING", False),
        (2, "PENDING", False),
        (3, "PENDING", False),
    ]


def test_reasoning_then_content_with_markers_counted_not_streamed() -> None:
    decided = _run(TokenClassifier(MARKERS), [1, 2, 10, 11, 3, 2, 20])
    assert _summary(decided) == [
        (1, "REASONING", True),
        (2, "REASONING", True),
        (10, "REASONING", False),
        (11, "REASONING", False),
        (3, "REASONING", True),
        (2, "REASONING", True),
        (20, "CONTENT", False),
    ]


def test_a_tool_call_block_and_a_stray_close() -> None:
    decided = _run(TokenClassifier(MARKERS), [30, 1, 4, 40, 3, 4, 3, 2, 50])
    assert _summary(decided) == [
        (30, "PENDING", False),
        (1, "TOOL_CALL", True),
        (4, "TOOL_CALL", True),
        (40, "TOOL_CALL", False),
        (3, "TOOL_CALL", True),
        (4, "TOOL_CALL", True),
        (3, "CONTENT", True),
        (2, "CONTENT", True),
        (50, "CONTENT", False),
    ]


def test_a_false_start_is_released_as_an_ordinary_token() -> None:
    classifier = TokenClassifier(MARKERS)
    assert classifier.push(1) == [], "1 may start a marker: held"
    released = classifier.push(7)
    assert _summary(released) == [(1, "PENDING", False), (7, "PENDING", False)]


def test_prompt_replay_sets_the_starting_section() -> None:
    thinking = TokenClassifier(MARKERS)
    thinking.replay([100, 1, 2])
    assert thinking.section is Section.REASONING
    not_thinking = TokenClassifier(MARKERS)
    not_thinking.replay([100, 1, 2, 3, 2])
    assert not_thinking.section is Section.CONTENT
    assert _summary(not_thinking.push(9)) == [(9, "CONTENT", False)]


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
