"""safe_validator: the schemas it refuses (remote, dangling or stray `$ref`, patterns RE2 cannot run),
and that what it accepts validates as jsonschema does, with RE2 in linear time."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from paddler.engine.engine_errors import UnsafeSchemaError
from paddler.engine.safe_schema_validator import safe_validator


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _messages(schema: Any, instance: Any) -> list[str]:
    return sorted(error.message for error in safe_validator(schema).iter_errors(instance))


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        (_object(city={"$ref": "http://127.0.0.1:9/city.json"}), "does not point into the schema itself"),
        (_object(city={"$ref": "city.json"}), "does not point into the schema itself"),
        (_object(city={"$ref": "https://json-schema.org/draft/2020-12/schema"}), "does not point into the schema"),
        (_object(city={"$ref": "#/$defs/missing"}), "points to nothing"),
        (_object(city={"$ref": "#nowhere"}), "points to nothing"),
        (_object(city={"$id": "http://example.com/city", "$ref": "#/$defs/x"}), "points to nothing"),
        (_object(city={"$ref": "#/properties/kind/enum"}, kind={"enum": ["a"]}), "not point to a subschema"),
        ({**_object(city={"$ref": "#/$defs/city"}), "$defs": {"city": {"$ref": "#/$defs/gone"}}}, "points to nothing"),
        (_object(city={"$dynamicRef": "http://127.0.0.1:9/x"}), "does not point into the schema itself"),
        (_object(city={"pattern": "(?=a)b"}), "pattern '(?=a)b' is not supported"),
        (_object(city={"pattern": r"(a)\1"}), "is not supported"),
        ({"type": "object", "patternProperties": {"(?<!x)y": {}}}, "is not supported"),
        ({"type": "object", "patternProperties": {"^a": {}}, "unevaluatedProperties": False}, "unevaluatedProperties"),
    ],
)
def test_unsafe_schemas_are_refused_with_the_reason(schema: Any, fragment: str) -> None:
    with pytest.raises(UnsafeSchemaError) as refused:
        safe_validator(schema)
    assert fragment in str(refused.value)


def test_a_remote_reference_is_never_retrieved() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        with pytest.raises(UnsafeSchemaError):
            safe_validator(_object(city={"$ref": f"http://127.0.0.1:{port}/city.json"}))
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_local_references_resolve_and_validate() -> None:
    schema = {
        **_object(home={"$ref": "#/$defs/place"}, work={"$ref": "#/properties/home"}),
        "$defs": {"place": {"type": "string", "minLength": 3}},
    }
    assert _messages(schema, {"home": "Oslo", "work": "Rome"}) == []
    assert _messages(schema, {"home": "Oz", "work": 5}) == ["'Oz' is too short", "5 is not of type 'string'"]
    recursive = {
        "$ref": "#/$defs/node",
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#"}, "tag": {"pattern": "^a+$"}}}},
    }
    assert _messages(recursive, {"next": {"next": {"tag": "b"}}}) == ["'b' does not match '^a+$'"]


def test_draft_7_definitions_and_a_root_dialect() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        **_object(day={"$ref": "#/definitions/day"}),
        "definitions": {"day": {"type": "integer", "minimum": 1}},
    }
    assert _messages(schema, {"day": 0}) == ["0 is less than the minimum of 1"]


def test_patterns_run_on_re2_in_linear_time() -> None:
    catastrophic = "^(a|a)*$"
    schema = {
        **_object(text={"pattern": catastrophic}),
        "patternProperties": {catastrophic: {"type": "integer"}},
        "additionalProperties": False,
        # A subschema naming its own dialect would get jsonschema's stock validator, with Python's `re`.
        "$defs": {"text": {"$schema": "http://json-schema.org/draft-07/schema#", "pattern": catastrophic}},
    }
    schema["properties"]["other"] = {"$ref": "#/$defs/text"}
    long_text = "a" * 100_000 + "!"
    started = time.monotonic()
    messages = _messages(schema, {"text": long_text, "other": long_text, long_text: 1, "aaaa": "x"})
    assert time.monotonic() - started < 1.0
    assert len(messages) == 4
    assert sum("does not match" in message for message in messages) == 3  # text, other, the stray key
    assert "'x' is not of type 'integer'" in messages
    assert _messages(schema, {"text": "aaa", "aa": 2}) == []


def test_additional_properties_messages_match_jsonschema() -> None:
    closed = {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
    assert _messages(closed, {"a": 1, "b": 2, "c": 3}) == [
        "Additional properties are not allowed ('b', 'c' were unexpected)"
    ]
    patterned = {"type": "object", "patternProperties": {"^x": {}}, "additionalProperties": False}
    assert _messages(patterned, {"xa": 1, "b": 2}) == ["'b' does not match any of the regexes: '^x'"]
    typed = {"type": "object", "additionalProperties": {"type": "string"}}
    assert _messages(typed, {"b": 2}) == ["2 is not of type 'string'"]


def test_the_callers_schema_is_left_as_it_was() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **_object(a={"type": "string"})}
    safe_validator(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
