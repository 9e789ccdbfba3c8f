"""A chat completion's tool calls as streamed deltas, the way OpenAI streams them: the call's id and name
as soon as the model has written them, then its arguments text as the model writes it.

Incremental streaming covers the common form, one JSON object `{"name": …, "arguments": {…}}` in a
tool-call block; any other form (a list of calls, XML-style parameters, arguments before the name) is
sent whole, once the engine has parsed the block and checked it against the tool's schema. Either way
the concatenated arguments of an index are the call's arguments; a call that then fails its schema check
ends the stream with an error, as it does when sent whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from paddler.messages.generated_token_result import ParsedToolCall
from paddler.web.openai.tools import call_arguments, new_call_id

_HEAD = re.compile(r'\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*', re.DOTALL)
# The keys written so far, to tell early that a block will not take the form above.
_KEYS = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')
# A name longer than this has gone wrong; the block is then sent whole.
_MAX_HEAD_CHARACTERS = 1024


def whole_call(call: ParsedToolCall, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "id": new_call_id(),
        "type": "function",
        "function": {"name": call.name, "arguments": call_arguments(call)},
    }


class ToolCallDeltas:
    def __init__(self) -> None:
        self._next_index = 0
        self._begin_block()

    def _begin_block(self) -> None:
        self._head = ""
        # "head" until the name is read, then "arguments" until the object closes ("done"); "whole" when the
        # block is not of the streamable form, "whole_arguments" when its arguments are not an object.
        self._state = "head"
        self._index: int | None = None
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._streamed_arguments = False

    def push(self, text: str) -> list[dict[str, Any]]:
        """Deltas for this piece of the tool-call block's text."""
        if self._state == "head":
            return self._read_head(text)
        if self._state == "arguments":
            return self._read_arguments(text)
        return []

    def block_parsed(self, calls: Sequence[ParsedToolCall]) -> list[dict[str, Any]]:
        """Deltas for what was not streamed of a parsed block: all of it, or the arguments of a call whose
        arguments were not a JSON object."""
        deltas = []
        remaining = list(calls)
        if self._index is not None and remaining:
            first = remaining.pop(0)
            if not self._streamed_arguments:
                deltas.append({"index": self._index, "function": {"arguments": call_arguments(first)}})
        for call in remaining:
            deltas.append(whole_call(call, self._next_index))
            self._next_index += 1
        self._begin_block()
        return deltas

    def _read_head(self, text: str) -> list[dict[str, Any]]:
        self._head += text
        head = _HEAD.match(self._head)
        if head is None:
            if not self._may_become_head():
                self._state = "whole"
            return []
        self._index = self._next_index
        self._next_index += 1
        self._state = "arguments"
        started = {
            "index": self._index,
            "id": new_call_id(),
            "type": "function",
            "function": {"name": json.loads(head.group(1)), "arguments": ""},
        }
        return [started, *self._read_arguments(self._head[head.end() :])]

    def _may_become_head(self) -> bool:
        stripped = self._head.lstrip()
        if not stripped:
            return True
        if not stripped.startswith("{") or len(stripped) > _MAX_HEAD_CHARACTERS:
            return False
        keys = _KEYS.findall(stripped)
        return keys[:2] == ["name", "arguments"][: len(keys)] and len(keys) <= 2

    def _read_arguments(self, text: str) -> list[dict[str, Any]]:
        """The part of `text` inside the arguments object, ending with its closing brace."""
        taken = []
        for character in text:
            if self._depth == 0 and character.isspace():
                continue
            if self._depth == 0 and character != "{":
                # Not an object: its text goes out whole once the block has parsed.
                self._state = "whole_arguments"
                break
            taken.append(character)
            self._streamed_arguments = True
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif character == "\\":
                    self._escaped = True
                elif character == '"':
                    self._in_string = False
                continue
            if character == '"':
                self._in_string = True
            elif character in "{[":
                self._depth += 1
            elif character in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self._state = "done"
                    break
        if not taken:
            return []
        return [{"index": self._index, "function": {"arguments": "".join(taken)}}]
