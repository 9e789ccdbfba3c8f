"""What each model family's real chat template writes for an assistant's tool call, the parser reads
back: Qwen3 (JSON), Qwen3.5 (XML parameters), GLM 4.7 (arg_key/arg_value), Gemma 4 (its own quoting)
and Ministral 3 ([TOOL_CALLS]NAME[ARGS]). The templates come from llama.cpp's source tree."""

from __future__ import annotations

from typing import Any

import pytest

from paddler.engine.parse_tool_calls import parse_tool_call_block
from paddler.engine.token_markers import markers_for_template
from paddler.messages.generate_tokens_params import ToolDefinition
from paddler.web.shared.chat_template import render_chat_prompt

from ..conftest import llama_cpp_dir

TEMPLATES = llama_cpp_dir() / "models" / "templates"
ARGUMENTS = {"city": "Paris", "days": 3, "metric": True, "units": {"temp": "C"}, "tags": ["a", "b c"]}
WEATHER = ToolDefinition(
    "get_weather",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "metric": {"type": "boolean"},
            "units": {"type": "object"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city"],
    },
)
# (template file, the call block's first text, the text just after it, forceable as JSON)
FAMILIES = [
    ("Qwen-Qwen3-0.6B.jinja", "<tool_call>", "</tool_call>", True),
    ("Qwen3.5-4B.jinja", "<tool_call>", "</tool_call>", False),
    ("GLM-4.7-Flash.jinja", "<tool_call>", "</tool_call>", False),
    ("google-gemma-4-31B-it.jinja", "<|tool_call>", "<tool_call|>", False),
    ("mistralai-Ministral-3-14B-Reasoning-2512.jinja", "[TOOL_CALLS]", "</s>", False),
]


def _rendered_call(template: str) -> str:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
    ]
    return render_chat_prompt(
        template, messages, add_generation_prompt=True, enable_thinking=False, bos_token="<s>", eos_token="</s>"
    )


@pytest.mark.parametrize(("name", "opening", "after", "json_body"), FAMILIES)
def test_the_template_written_call_parses_back(name: str, opening: str, after: str, json_body: bool) -> None:
    template = (TEMPLATES / name).read_text()
    rendered = _rendered_call(template)
    start = rendered.index(opening)
    end = rendered.index(after, start)
    block = rendered[start : end + (0 if after == "</s>" else len(after))]
    event = parse_tool_call_block(block, [WEATHER], first_id=0)
    assert event.kind == "ToolCallParsed", (block, event)
    (call,) = event.calls
    assert call.name == "get_weather"
    assert call.arguments == ARGUMENTS

    markers = markers_for_template(template, lambda text: [ord(character) for character in text])
    assert markers.tool_call_open == tuple(map(ord, opening))
    assert markers.tool_call_json == json_body


def test_xml_values_follow_the_schema_and_bad_blocks_are_unrecognized() -> None:
    text_only = ToolDefinition("note", {"type": "object", "properties": {"text": {"type": "string"}}})
    event = parse_tool_call_block(
        "<tool_call>\n<function=note>\n<parameter=text>\n42\n</parameter>\n</function>\n</tool_call>", [text_only], 0
    )
    assert event.calls[0].arguments == {"text": "42"}, "a string parameter stays text even when it looks like JSON"
    glm = parse_tool_call_block("<tool_call>note<arg_key>text</arg_key><arg_value>hi</arg_value></tool_call>", [], 0)
    assert glm.kind == "ToolCallValidationFailed", "unknown tools are still reported after parsing"
    for broken in (
        "<tool_call>\n<function=note>\n<parameter=text>\nhi\n</parameter>\n</tool_call>",
        '<|tool_call>call:note{text:<|"|>unterminated}<tool_call|>',
        "<|tool_call>note{}<tool_call|>",
        "<tool_call>not a call at all!</tool_call>",
    ):
        assert parse_tool_call_block(broken, [text_only], 0).kind == "UnrecognizedToolCallFormat", broken
