"""A JSON-schema constraint makes the model's output a JSON document the schema accepts."""

from __future__ import annotations

import json

import jsonschema

from paddler.messages.generate_tokens_params import GenerateTokensParams, GrammarConstraint, JsonSchemaConstraint
from paddler.messages.generated_token_result import GenerationDone, GenerationErrorKind, GenerationFailed
from paddler.messages.sampling_params import GREEDY, SamplingParams

from .conftest import EngineFactory, chat_prompt, text_of

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "population": {"type": "integer", "minimum": 0},
        "capital": {"type": "boolean"},
    },
    "required": ["city", "population", "capital"],
    "additionalProperties": False,
}


def test_output_validates_against_the_schema(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=2)
    for sampling in (GREEDY, SamplingParams(temperature=1.0, seed=3)):
        params = GenerateTokensParams(
            chat_prompt("Describe Paris as JSON."), 120, sampling, JsonSchemaConstraint(json.dumps(SCHEMA))
        )
        results = list(engine.submit_generation(params))
        assert isinstance(results[-1], GenerationDone), results[-1]
        document = json.loads(text_of(results))
        jsonschema.validate(document, SCHEMA)


def test_an_unconvertible_schema_is_a_grammar_syntax_error(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    params = GenerateTokensParams(chat_prompt("Hi"), 10, GREEDY, JsonSchemaConstraint('{"type": "frobnicate"}'))
    (result,) = list(engine.submit_generation(params))
    assert isinstance(result, GenerationFailed)
    assert result.kind is GenerationErrorKind.GRAMMAR_SYNTAX_ERROR
    assert result.message.startswith("Failed to create grammar sampler: Failed to convert JSON schema to grammar:")
    assert engine.stats().requests_rejected == 0


def test_a_grammar_that_rules_out_every_token_ends_with_grammar_rejected(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    # Once "a" is out, the grammar allows only the end, which ignore_eog forbids: nothing is left.
    params = GenerateTokensParams(chat_prompt("Hi"), 10, GREEDY, GrammarConstraint('root ::= "a"'), ignore_eog=True)
    results = list(engine.submit_generation(params))
    failure = results[-1]
    assert isinstance(failure, GenerationFailed)
    assert failure.kind is GenerationErrorKind.GRAMMAR_REJECTED_MODEL_OUTPUT
    assert text_of(results) == "a"
    assert engine.stats().slots_processing == 0
