"""SequenceOutput on SmolLM2's vocabulary: sections by marker token ids (markers held back, counted, never
turned into text), text that is valid UTF-8 at every push, the token budget and end of generation."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paddler.llama import LlamaModel, SequenceOutput
from paddler.llama.sequence_output import (
    BUDGET_SPENT,
    END_OF_GENERATION,
    SECTION_CONTENT,
    SECTION_PENDING,
    SECTION_REASONING,
    SECTION_TOOL_CALL,
    TEXT,
    TOOL_CALLS,
)

# Ordinary tokens stand in for markers (low ids are special, end of generation among them): reasoning
# <think>=(1001, 1002) </think>=(1003, 1002); tool call <tool_call>=(1001, 1004) </tool_call>=(1003, 1004).
MARKERS = ((1001, 1002), (1003, 1002), (1001, 1004), (1003, 1004))
NO_MARKERS = (None, None, None, None)
NAMES = {SECTION_PENDING: "PENDING", SECTION_CONTENT: "CONTENT", SECTION_REASONING: "REASONING"}
NAMES[SECTION_TOOL_CALL] = "TOOL_CALL"


def _run(output: SequenceOutput, tokens: list[int]) -> list[tuple[int, str, bool]]:
    decided = []
    for token in tokens:
        output.push(token)
        decided += output.decided()
    output.finish()
    decided += output.decided()
    return [(token, NAMES[section], is_marker) for token, section, is_marker, _ in decided]


@pytest.fixture(scope="module")
def byte_tokens(smollm: LlamaModel) -> dict[int, int]:
    """A token for each byte value the byte-level vocabulary has one for (all but a few)."""
    vocab = smollm.vocab
    found: dict[int, int] = {}
    for token in range(vocab.n_tokens):
        piece = vocab.token_to_piece(token)
        if len(piece) == 1:
            found.setdefault(piece[0], token)
    assert len(found) > 200
    return found


def test_without_markers_everything_is_undeterminable(smollm: LlamaModel) -> None:
    output = SequenceOutput(smollm.vocab, NO_MARKERS)
    assert _run(output, [1001, 1002, 1003]) == [
        (1001, "PENDING", False),
        (1002, "PENDING", False),
        (1003, "PENDING", False),
    ]
    assert output.counts == (3, 0, 0, 0)


def test_reasoning_then_content_with_markers_counted_not_turned_into_text(smollm: LlamaModel) -> None:
    output = SequenceOutput(smollm.vocab, MARKERS)
    assert _run(output, [1001, 1002, 1010, 1011, 1003, 1002, 1020]) == [
        (1001, "REASONING", True),
        (1002, "REASONING", True),
        (1010, "REASONING", False),
        (1011, "REASONING", False),
        (1003, "REASONING", True),
        (1002, "REASONING", True),
        (1020, "CONTENT", False),
    ]
    assert output.counts == (0, 1, 6, 0)


def test_a_tool_call_block_and_a_stray_close(smollm: LlamaModel) -> None:
    output = SequenceOutput(smollm.vocab, MARKERS, keep_tool_call_bytes=True)
    piece = smollm.vocab.token_to_piece
    assert _run(output, [1030, 1001, 1004, 1040]) == [
        (1030, "PENDING", False),
        (1001, "TOOL_CALL", True),
        (1004, "TOOL_CALL", True),
        (1040, "TOOL_CALL", False),
    ]
    assert output.push(1003) & TOOL_CALLS == 0, "1003 may start the close marker: held"
    assert output.push(1004) & TOOL_CALLS, "the block closed"
    assert output.take_tool_call_bytes() == b"".join(piece(token) for token in (1001, 1004, 1040, 1003, 1004))
    assert _run(output, [1003, 1002, 1050]) == [
        (1003, "CONTENT", True),
        (1002, "CONTENT", True),
        (1050, "CONTENT", False),
    ]


def test_a_false_start_is_released_as_an_ordinary_token(smollm: LlamaModel) -> None:
    output = SequenceOutput(smollm.vocab, MARKERS)
    assert output.push(1001) == 0, "1001 may start a marker: held"
    output.push(1007)
    piece = smollm.vocab.token_to_piece
    assert output.texts() == [(SECTION_PENDING, (piece(1001) + piece(1007)).decode())]


def test_prompt_replay_sets_the_starting_section(smollm: LlamaModel) -> None:
    thinking = SequenceOutput(smollm.vocab, MARKERS)
    thinking.replay([1100, 1001, 1002])
    assert thinking.section == SECTION_REASONING
    not_thinking = SequenceOutput(smollm.vocab, MARKERS)
    not_thinking.replay([1100, 1001, 1002, 1003, 1002])
    assert not_thinking.section == SECTION_CONTENT
    assert _run(not_thinking, [1009]) == [(1009, "CONTENT", False)]
    assert not_thinking.counts == (0, 1, 0, 0), "the prompt is not counted"


def test_the_budget_counts_every_token_outside_tool_calls(smollm: LlamaModel) -> None:
    output = SequenceOutput(smollm.vocab, MARKERS, 2)
    for token in (1001, 1004, 1040, 1003, 1004):
        assert output.push(token) & BUDGET_SPENT == 0, "a tool-call block is not counted"
    assert output.push(1050) & BUDGET_SPENT == 0
    assert output.push(1051) & BUDGET_SPENT
    assert output.counts == (0, 2, 0, 5)


def test_end_of_generation_is_neither_counted_nor_text(smollm: LlamaModel) -> None:
    output = SequenceOutput(smollm.vocab, NO_MARKERS, 1)
    eos = smollm.vocab.eos
    assert eos is not None
    assert output.push(eos) == END_OF_GENERATION
    assert output.counts == (0, 0, 0, 0)


def test_a_split_character_is_held_back_until_complete(smollm: LlamaModel, byte_tokens: dict[int, int]) -> None:
    output = SequenceOutput(smollm.vocab, NO_MARKERS)
    encoded = "🦙!".encode()
    flags = [output.push(byte_tokens[byte]) for byte in encoded]
    assert flags == [0, 0, 0, TEXT, TEXT]
    assert output.texts() == [(SECTION_PENDING, "!")]
    assert output.flush_tail() == ""


def test_invalid_bytes_become_replacement_characters_and_a_tail_is_flushed(
    smollm: LlamaModel, byte_tokens: dict[int, int]
) -> None:
    output = SequenceOutput(smollm.vocab, NO_MARKERS)
    output.push(byte_tokens[0x80])
    assert output.texts() == [(SECTION_PENDING, "\ufffd")]
    for byte in "你".encode()[:2]:
        output.push(byte_tokens[byte])
    assert output.finish() == 0
    assert output.flush_tail() == "\ufffd"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=48))
def test_any_bytes_come_out_as_pythons_incremental_decoder_gives_them(
    smollm: LlamaModel, byte_tokens: dict[int, int], data: bytes
) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    output = SequenceOutput(smollm.vocab, NO_MARKERS)
    for byte in data:
        if byte not in byte_tokens:
            continue
        output.push(byte_tokens[byte])
        assert "".join(text for _, text in output.texts()) == decoder.decode(bytes([byte]))
    output.finish()
    assert output.flush_tail() == decoder.decode(b"", final=True)
