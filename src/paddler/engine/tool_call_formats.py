"""The tool-call formats models write, read back into (name, arguments) pairs. Recognized by their
text, whatever the template (as Paddler's parser does):

* Qwen3/Hermes: <tool_call>{"name": …, "arguments": {…}}</tool_call> (also a JSON list of calls)
* Qwen3.5/Qwen3-Coder: <tool_call><function=NAME><parameter=KEY>value</parameter>…</function></tool_call>
* GLM 4.x: <tool_call>NAME<arg_key>KEY</arg_key><arg_value>value</arg_value>…</tool_call>
* Gemma 4: <|tool_call>call:NAME{key:value,…}<tool_call|>, strings between <|"|> quotes
* Mistral/Ministral: [TOOL_CALLS]NAME[ARGS]{…}, or [TOOL_CALLS][{"name": …, "arguments": …}]

XML-style values are text; they become JSON values unless the tool's schema says the parameter is a
string, as llama.cpp's parsers do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paddler.messages.generate_tokens_params import ToolDefinition

_NAME = r"[A-Za-z0-9_.\-]+"
_MISTRAL_NAMED = re.compile(rf"\[TOOL_CALLS\]\s*({_NAME})\s*\[ARGS\](.*)", re.DOTALL)
_XML_FUNCTION = re.compile(rf"<function=({_NAME})>(.*?)</function>", re.DOTALL)
_XML_PARAMETER = re.compile(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>", re.DOTALL)
_GLM_CALL = re.compile(rf"\s*({_NAME})\s*((?:<arg_key>.*?</arg_key>\s*<arg_value>.*?</arg_value>\s*)*)", re.DOTALL)
_GLM_ARGUMENT = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)
_GEMMA_QUOTE = '<|"|>'
_PYTHON_LITERALS: dict[str, object] = {"True": True, "False": False, "None": None}


class UnrecognizedToolCallError(ValueError):
    """The text matched no known tool-call format."""


@dataclass(frozen=True, slots=True)
class ExtractedCall:
    name: str
    arguments: object
    # The model's argument text when it was not valid JSON (then `arguments` is None).
    invalid_arguments: str | None = None


def _json_arguments(raw: Any) -> tuple[object, str | None]:
    if isinstance(raw, str):
        try:
            return json.loads(raw), None
        except ValueError:
            return None, raw
    return raw, None


def _from_objects(objects: Sequence[Any]) -> list[ExtractedCall]:
    calls = []
    for value in objects:
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise UnrecognizedToolCallError('a tool call must be an object with a string "name"')
        arguments, invalid = _json_arguments(value.get("arguments", value.get("parameters", {})))
        calls.append(ExtractedCall(value["name"], arguments, invalid))
    return calls


def _json_calls(text: str) -> list[ExtractedCall]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UnrecognizedToolCallError(f"tool call is not JSON: {error}") from None
    return _from_objects(document if isinstance(document, list) else [document])


def _typed_value(raw: str, tool: ToolDefinition | None, key: str) -> object:
    """A parameter's text as the schema wants it: text for strings, else JSON when it parses."""
    properties = (tool.parameters or {}).get("properties") if tool is not None else None
    schema = properties.get(key) if isinstance(properties, dict) else None
    declared = schema.get("type") if isinstance(schema, dict) else None
    if declared == "string" or (isinstance(declared, list) and "string" in declared):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        # Templates that print Python values (Qwen3.5's does) teach the model True, False and None.
        return _PYTHON_LITERALS.get(raw.strip(), raw)


def _keyed_calls(name: str, pairs: Sequence[tuple[str, str]], tools: dict[str, ToolDefinition]) -> ExtractedCall:
    tool = tools.get(name)
    return ExtractedCall(name, {key.strip(): _typed_value(value, tool, key.strip()) for key, value in pairs})


def _qwen_xml_calls(body: str, tools: dict[str, ToolDefinition]) -> list[ExtractedCall]:
    functions = _XML_FUNCTION.findall(body)
    if not functions:
        raise UnrecognizedToolCallError("a <function=…> call has no closing </function>")
    return [_keyed_calls(name, _XML_PARAMETER.findall(inner), tools) for name, inner in functions]


def _glm_calls(body: str, tools: dict[str, ToolDefinition]) -> list[ExtractedCall]:
    matched = _GLM_CALL.fullmatch(body)
    if matched is None:
        raise UnrecognizedToolCallError("no known tool-call format matched")
    return [_keyed_calls(matched.group(1), _GLM_ARGUMENT.findall(matched.group(2)), tools)]


class _GemmaReader:
    """Gemma 4's argument syntax: JSON-like, strings quoted with <|"|>, object keys bare or quoted."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def error_expecting(self, expected: str) -> UnrecognizedToolCallError:
        return UnrecognizedToolCallError(f"Gemma tool call: expected {expected} at offset {self.at}")

    def skip_spaces(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def accept_literal(self, literal: str) -> bool:
        self.skip_spaces()
        if self.text.startswith(literal, self.at):
            self.at += len(literal)
            return True
        return False

    def quoted(self) -> str:
        end = self.text.find(_GEMMA_QUOTE, self.at)
        if end < 0:
            raise self.error_expecting('a closing <|"|>')
        value, self.at = self.text[self.at : end], end + len(_GEMMA_QUOTE)
        return value

    def value(self, depth: int = 0) -> object:
        if depth > 64:
            raise self.error_expecting("less nesting")
        if self.accept_literal(_GEMMA_QUOTE):
            return self.quoted()
        if self.accept_literal("{"):
            return self.mapping(depth)
        if self.accept_literal("["):
            items: list[object] = []
            while not self.accept_literal("]"):
                if items and not self.accept_literal(","):
                    raise self.error_expecting("',' or ']'")
                items.append(self.value(depth + 1))
            return items
        return self.scalar()

    def mapping(self, depth: int) -> dict[str, object]:
        entries: dict[str, object] = {}
        while not self.accept_literal("}"):
            if entries and not self.accept_literal(","):
                raise self.error_expecting("',' or '}'")
            key = self.quoted() if self.accept_literal(_GEMMA_QUOTE) else self.bare(":")
            if not self.accept_literal(":"):
                raise self.error_expecting("':'")
            entries[key] = self.value(depth + 1)
        return entries

    def bare(self, stop: str) -> str:
        self.skip_spaces()
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in stop:
            self.at += 1
        if self.at == start:
            raise self.error_expecting("a value")
        return self.text[start : self.at].strip()

    def scalar(self) -> object:
        raw = self.bare(",}]")
        try:
            return json.loads(raw)
        except ValueError:
            return raw


def _gemma_calls(text: str) -> list[ExtractedCall]:
    body = text.removeprefix("<|tool_call>").removesuffix("<tool_call|>").strip()
    matched = re.match(rf"call:({_NAME})\s*", body)
    if matched is None:
        raise UnrecognizedToolCallError("a Gemma tool call starts with call:NAME")
    reader = _GemmaReader(body)
    reader.at = matched.end()
    if not reader.accept_literal("{"):
        raise reader.error_expecting("'{'")
    arguments = reader.mapping(0)
    reader.skip_spaces()
    if reader.at != len(body):
        raise reader.error_expecting("the end of the call")
    return [ExtractedCall(matched.group(1), arguments)]


def extract_calls(text: str, tools: Sequence[ToolDefinition]) -> list[ExtractedCall]:
    """Raises UnrecognizedToolCallError; JSON errors inside a recognized format count as that too."""
    stripped = text.strip()
    by_name = {tool.name: tool for tool in tools}
    if stripped.startswith("<|tool_call>"):
        return _gemma_calls(stripped)
    if stripped.startswith("<tool_call>"):
        body = stripped.removeprefix("<tool_call>").removesuffix("</tool_call>").strip()
        if body.startswith(("{", "[")):
            return _json_calls(body)
        if body.startswith("<function="):
            return _qwen_xml_calls(body, by_name)
        return _glm_calls(body, by_name)
    named = _MISTRAL_NAMED.match(stripped)
    if named:
        arguments, invalid = _json_arguments(named.group(2).strip())
        return [ExtractedCall(named.group(1), arguments, invalid)]
    if stripped.startswith("[TOOL_CALLS]"):
        return _json_calls(stripped.removeprefix("[TOOL_CALLS]").strip())
    raise UnrecognizedToolCallError("no known tool-call format matched")
