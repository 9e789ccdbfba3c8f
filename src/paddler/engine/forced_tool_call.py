"""A grammar that makes the model call one of the given tools now (OpenAI's tool_choice "required" or
a named function): the template's tool-call markers as exact token ids around a JSON object whose
`name` is one of the tools and whose `arguments` follow that tool's schema.

Only templates that write a call as a JSON object between <tool_call> markers (Qwen3, Hermes and their
kin) can be forced; for the rest the caller gets ToolChoiceUnsupportedError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from paddler.engine.engine_errors import ToolChoiceUnsupportedError
from paddler.engine.token_markers import TokenIds, TokenMarkers
from paddler.engine.tokenizer import Tokenizer
from paddler.messages.generate_tokens_params import GrammarConstraint, ToolDefinition

# Renamed so the rules of the JSON grammar and the wrapper around it cannot clash.
_CALL_RULE = "paddler-forced-tool-call"
_ROOT_RULE = re.compile(r"^root ::=", re.MULTILINE)


def _call_schema(tool: ToolDefinition) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {
            "name": {"const": tool.name},
            "arguments": tool.parameters if tool.parameters is not None else {"type": "object"},
        },
        "required": ["name", "arguments"],
    }


def _token_literal(tokens: TokenIds) -> str:
    return " ".join(f"<[{token}]>" for token in tokens)


def forced_tool_call_grammar(markers: TokenMarkers, tools: Sequence[ToolDefinition]) -> GrammarConstraint:
    """Raises ToolChoiceUnsupportedError, or GrammarConversionError for a schema llama.cpp cannot convert."""
    if not tools:
        raise ToolChoiceUnsupportedError("a tool call can only be required when tools are given")
    if markers.tool_call_open is None or markers.tool_call_close is None or not markers.tool_call_json:
        raise ToolChoiceUnsupportedError(
            "this model's chat template does not write tool calls as JSON inside <tool_call> markers, so a "
            'tool call cannot be required; use tool_choice "auto"'
        )
    schema = {"anyOf": [_call_schema(tool) for tool in tools]}
    call_rules = _ROOT_RULE.sub(f"{_CALL_RULE} ::=", Tokenizer.json_schema_grammar(json.dumps(schema)).grammar, count=1)
    root = (
        f'root ::= {_token_literal(markers.tool_call_open)} "\\n" {_CALL_RULE} "\\n" '
        f"{_token_literal(markers.tool_call_close)}"
    )
    return GrammarConstraint(f"{root}\n{call_rules}", "root")
