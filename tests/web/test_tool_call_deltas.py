"""ToolCallDeltas: a JSON tool call streams its name, then its arguments text piece by piece; other
forms go out whole once parsed; concatenated arguments always equal the call's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from paddler.messages.generated_token_result import ParsedToolCall
from paddler.web.openai.tool_call_deltas import ToolCallDeltas

TEXT = '\n{"name": "get_weather", "arguments": {"city": "Pa\\"r}is", "days": [1, {"a": "}]"}]}}\n'
ARGUMENTS = {"city": 'Pa"r}is', "days": [1, {"a": "}]"}]}


def _arguments_by_index(deltas: list[dict[str, Any]]) -> dict[int, str]:
    joined: dict[int, str] = {}
    for delta in deltas:
        joined[delta["index"]] = joined.get(delta["index"], "") + delta["function"]["arguments"]
    return joined


@pytest.mark.parametrize("piece", [1, 2, 5, 13, 200])
def test_a_json_call_streams_in_pieces_of_any_size(piece: int) -> None:
    streamer = ToolCallDeltas()
    deltas = [delta for start in range(0, len(TEXT), piece) for delta in streamer.push(TEXT[start : start + piece])]
    deltas += streamer.block_parsed([ParsedToolCall("call_0", "get_weather", ARGUMENTS)])
    assert deltas[0]["function"]["name"] == "get_weather"
    assert deltas[0]["id"].startswith("call_")
    assert all("id" not in delta for delta in deltas[1:])
    assert json.loads(_arguments_by_index(deltas)[0]) == ARGUMENTS


def test_other_forms_go_out_whole_and_indexes_keep_counting() -> None:
    streamer = ToolCallDeltas()
    first = streamer.push('{"name": "a", "arguments": {}}') + streamer.block_parsed([ParsedToolCall("c0", "a", {})])
    listed = streamer.push('[{"name": "b", "arguments": {"x": 1}}]')
    assert listed == []
    listed += streamer.block_parsed([ParsedToolCall("c1", "b", {"x": 1}), ParsedToolCall("c2", "c", {})])
    reordered = streamer.push('{"arguments": {"y": 2}, "name": "d"}')
    assert reordered == []
    reordered += streamer.block_parsed([ParsedToolCall("c3", "d", {"y": 2})])
    text_arguments = streamer.push('{"name": "e", "arguments": "{\\"z\\": 3}"}')
    text_arguments += streamer.block_parsed([ParsedToolCall("c4", "e", {"z": 3})])
    joined = _arguments_by_index(first + listed + reordered + text_arguments)
    assert {index: json.loads(text) for index, text in joined.items()} == {
        0: {},
        1: {"x": 1},
        2: {},
        3: {"y": 2},
        4: {"z": 3},
    }


def test_arguments_cut_short_are_not_sent_twice() -> None:
    streamer = ToolCallDeltas()
    deltas = streamer.push('{"name": "a", "arguments": {"x": ')
    deltas += streamer.block_parsed([ParsedToolCall("c0", "a", {"x": 1})])
    assert _arguments_by_index(deltas) == {0: '{"x": '}
