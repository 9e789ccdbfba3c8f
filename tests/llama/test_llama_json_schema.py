"""JSON Schema to GBNF through llama.cpp's converter: grammars for good schemas, reasons for bad ones."""

from __future__ import annotations

import json

import pytest

from paddler.llama import GrammarError, LlamaModel, LlamaSampler, json_schema_to_grammar

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "count": {"type": "integer"}},
    "required": ["answer", "count"],
}


def test_a_schema_becomes_a_grammar_llama_cpp_accepts(smollm: LlamaModel) -> None:
    grammar = json_schema_to_grammar(json.dumps(SCHEMA))
    assert "root ::=" in grammar
    assert '"\\"answer\\""' in grammar
    with LlamaSampler(smollm.vocab, grammar=grammar) as sampler:
        assert sampler.has_grammar


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"type": "frobnicate"}), "unrecognized type frobnicate"),
        (json.dumps({"$ref": "#/definitions/missing"}), "cannot resolve"),
        ("[" * 100 + "]" * 100, "deeper than 64"),
        ("[" * 10_000 + "]" * 10_000, "deeper than 64"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "deeper than 64"),
        (json.dumps({"enum": ["x" * 1024] * 1100}), "exceeds"),
    ],
)
def test_bad_schemas_give_the_reason(schema: str, reason: str) -> None:
    with pytest.raises(GrammarError, match=reason):
        json_schema_to_grammar(schema)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    schema = {"type": "object", "description": '[{\\"' * 100, "properties": {"a": {"enum": ["]]]" * 100]}}}
    assert "root ::=" in json_schema_to_grammar(json.dumps(schema))
