"""Under a Qwen3-style template, thinking and tool-call sections are classified by their markers' token
ids: reasoning, content and tool-call tokens stream with their kinds, marker text never streams, and the
usage counts each section, markers included. A grammar forces SmolLM2 through exact marker tokens."""

from __future__ import annotations

from collections import defaultdict

import pytest

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_errors import ToolChoiceUnsupportedError
from paddler.messages.generate_tokens_params import GenerateTokensParams, GrammarConstraint, ToolDefinition
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone, TokenKind, ToolCallEvent
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory

QWEN3_STYLE_TEMPLATE = (
    "{%- for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% if not enable_thinking %}<think>\n\n</think>\n\n"
    '{% endif %}{% endif %}{%- if tools %}Use <tool_call>{"name": ..., "arguments": ...}</tool_call>{% endif %}'
)
PROMPT = "<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n"
TOOL_CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


def _token_literal(engine: ContinuousBatchEngine, text: str) -> str:
    """GBNF that matches exactly the marker's token ids, not merely its text."""
    return " ".join(f"<[{token}]>" for token in engine.tokenize(text, add_special=False, parse_special=True))


def test_sections_are_streamed_by_kind_and_counted(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)

    def marker(text: str) -> str:
        return _token_literal(engine, text)

    grammar = " ".join(
        [
            "root ::=",
            marker("<think>"),
            '" Let me think."',
            marker("</think>"),
            '" Yes."',
            marker("<tool_call>"),
            '"' + TOOL_CALL.replace('"', '\\"') + '"',
            marker("</tool_call>"),
        ]
    )
    params = GenerateTokensParams(PROMPT, 200, GREEDY, GrammarConstraint(grammar), chat_template=QWEN3_STYLE_TEMPLATE)
    results = list(engine.submit_generation(params))
    done = results[-1]
    assert isinstance(done, GenerationDone), done
    streamed: dict[TokenKind, list[str]] = defaultdict(list)
    for result in results[:-1]:
        assert isinstance(result, GeneratedToken)
        streamed[result.kind].append(result.text)
    assert "".join(streamed[TokenKind.REASONING]) == " Let me think."
    assert "".join(streamed[TokenKind.CONTENT]) == " Yes."
    assert "".join(streamed[TokenKind.TOOL_CALL]) == TOOL_CALL
    assert TokenKind.UNDETERMINABLE not in streamed
    everything = "".join(result.text for result in results[:-1] if isinstance(result, GeneratedToken))
    for marker_text in ("<think>", "</think>", "<tool_call>", "</tool_call>", "think>", "call>"):
        assert marker_text not in everything
    usage = done.usage
    think_markers = 2 * 3  # "<", "think", ">" and "</", "think", ">" in SmolLM2's vocabulary
    tool_markers = 2 * 5
    assert usage.reasoning_tokens == len(streamed[TokenKind.REASONING]) + think_markers
    assert usage.content_tokens == len(streamed[TokenKind.CONTENT])
    assert usage.tool_call_tokens == len(streamed[TokenKind.TOOL_CALL]) + tool_markers
    assert usage.undeterminable_tokens == 0
    assert usage.completion_tokens == len(results) - 1 + think_markers + tool_markers


def test_a_model_template_without_markers_streams_undeterminable_tokens(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    info = engine.model_info
    assert info is not None
    results = list(engine.submit_generation(GenerateTokensParams(PROMPT, 8, GREEDY, chat_template=info.chat_template)))
    kinds = {result.kind for result in results if isinstance(result, GeneratedToken)}
    assert kinds == {TokenKind.UNDETERMINABLE}


def _tool_call_grammar(engine: ContinuousBatchEngine, call: str, after: str) -> GrammarConstraint:
    def marker(text: str) -> str:
        return _token_literal(engine, text)

    return GrammarConstraint(
        " ".join(
            [
                "root ::=",
                marker("<tool_call>"),
                '"' + call.replace('"', '\\"') + '"',
                marker("</tool_call>"),
                '"' + after + '"',
            ]
        )
    )


def test_a_parsed_tool_call_is_validated_and_exempt_from_max_tokens(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    weather = ToolDefinition(
        "get_weather", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    )
    params = GenerateTokensParams(
        PROMPT,
        2,
        GREEDY,
        _tool_call_grammar(engine, TOOL_CALL, " It is sunny there."),
        chat_template=QWEN3_STYLE_TEMPLATE,
        tools=(weather,),
        parse_tool_calls=True,
    )
    results = list(engine.submit_generation(params))
    events = [result for result in results if isinstance(result, ToolCallEvent)]
    assert len(events) == 1
    assert events[0].kind == "ToolCallParsed"
    assert events[0].calls[0].arguments == {"city": "Paris"}
    done = results[-1]
    assert isinstance(done, GenerationDone)
    assert done.usage.content_tokens == 2, "max_tokens counted only the content after the block"
    assert done.usage.tool_call_tokens > 10
    assert results.index(events[0]) < len(results) - 1


def test_arguments_that_break_the_schema_are_reported(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    strict = ToolDefinition("get_weather", {"type": "object", "properties": {"city": {"type": "integer"}}})
    params = GenerateTokensParams(
        PROMPT,
        40,
        GREEDY,
        _tool_call_grammar(engine, TOOL_CALL, ""),
        chat_template=QWEN3_STYLE_TEMPLATE,
        tools=(strict,),
        parse_tool_calls=True,
    )
    events = [result for result in engine.submit_generation(params) if isinstance(result, ToolCallEvent)]
    assert [event.kind for event in events] == ["ToolCallValidationFailed"]
    assert "failed schema check" in events[0].errors[0]


def test_a_required_tool_call_is_forced_through_the_markers(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    tools = (
        ToolDefinition(
            "get_time", {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}
        ),
        ToolDefinition(
            "get_weather", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        ),
    )
    params = GenerateTokensParams(
        PROMPT, 64, GREEDY, chat_template=QWEN3_STYLE_TEMPLATE, tools=tools, parse_tool_calls=True, force_tool_call=True
    )
    results = list(engine.submit_generation(params))
    events = [result for result in results if isinstance(result, ToolCallEvent)]
    assert [event.kind for event in events] == ["ToolCallParsed"], events
    (call,) = events[0].calls
    assert call.name in ("get_time", "get_weather")
    assert isinstance(call.arguments, dict)
    assert set(call.arguments) == {"zone" if call.name == "get_time" else "city"}
    kinds = {result.kind for result in results if isinstance(result, GeneratedToken)}
    assert kinds == {TokenKind.TOOL_CALL}, "the grammar ends the output with the closing marker"


def test_a_tool_call_cannot_be_forced_without_markers_or_tools(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    info = engine.model_info
    assert info is not None
    weather = ToolDefinition("get_weather")
    for template, tools in ((info.chat_template, (weather,)), (QWEN3_STYLE_TEMPLATE, ())):
        params = GenerateTokensParams(PROMPT, 8, GREEDY, chat_template=template, tools=tools, force_tool_call=True)
        with pytest.raises(ToolChoiceUnsupportedError):
            engine.submit_generation(params)
