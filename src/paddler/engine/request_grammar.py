"""A generation request's grammar as GBNF, converted in the caller's thread so the engine thread never
spends a step on it: a forced tool call, a JSON schema, or the request's own grammar."""

from __future__ import annotations

from paddler.engine.engine_errors import ToolChoiceUnsupportedError
from paddler.engine.forced_tool_call import forced_tool_call_grammar
from paddler.engine.token_markers import TokenMarkers
from paddler.engine.tokenizer import Tokenizer
from paddler.messages.generate_tokens_params import GenerateTokensParams, GrammarConstraint, JsonSchemaConstraint


def request_grammar(params: GenerateTokensParams, markers: TokenMarkers) -> GrammarConstraint | None:
    """Raises ToolChoiceUnsupportedError or GrammarConversionError."""
    if params.force_tool_call:
        if params.grammar is not None:
            raise ToolChoiceUnsupportedError("a tool call cannot be required together with a grammar")
        return forced_tool_call_grammar(markers, params.tools)
    if isinstance(params.grammar, JsonSchemaConstraint):
        return Tokenizer.json_schema_grammar(params.grammar.schema)
    return params.grammar
