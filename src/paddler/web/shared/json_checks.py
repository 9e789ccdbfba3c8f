"""The checks every JSON body and frame passes before it is validated (no repeated key, no nesting deeper
than MAX_JSON_DEPTH), the validation itself, and the one problem a 400 names when it fails."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def validation_problem(error: ValidationError) -> tuple[str, str]:
    """(dotted location, message) of the most specific error: for a value that matches no member of a
    union, the member it got furthest into (an RmsNorm's epsilon, not "should be 'L2'")."""
    # Among equally deep errors, one that is not a plain wrong-type error says more (a list too long
    # rather than "should be a string").
    deepest = max(error.errors(), key=lambda detail: (len(detail["loc"]), not detail["type"].endswith("_type")))
    return ".".join(str(part) for part in deepest["loc"]), deepest["msg"]


# serde_json's recursion limit, as Paddler parses; well within what the recursive code after parsing
# (jsonschema, json.dumps, templates, llama.cpp's converter) can hold on any thread's stack.
MAX_JSON_DEPTH = 128


class NestingTooDeepError(RecursionError):
    """A JSON document nests deeper than MAX_JSON_DEPTH: refused before anything recurses into it."""

    def __init__(self) -> None:
        super().__init__(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")


def _deeper_than(document: Any, limit: int) -> bool:
    # Level by level, so the check itself cannot run out of stack.
    level = [document]
    for _ in range(limit):
        nested: list[Any] = []
        for value in level:
            children = value.values() if isinstance(value, dict) else value
            nested.extend(child for child in children if isinstance(child, dict | list))
        if not nested:
            return False
        level = nested
    return True


class DuplicateKeyError(ValueError):
    """A key appears twice in one JSON object."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(key)
        seen[key] = value
    return seen


def loads_without_duplicates(data: str | bytes) -> Any:
    """json.loads that refuses a repeated key (DuplicateKeyError) instead of keeping the last one, so
    `{"max_tokens": 1, "max_tokens": 1e9}` cannot mean something a checking proxy did not see, and
    refuses a document nested too deeply (NestingTooDeepError)."""
    try:
        document = json.loads(data, object_pairs_hook=_reject_duplicates)
    except RecursionError:
        raise NestingTooDeepError from None
    if isinstance(document, dict | list) and _deeper_than(document, MAX_JSON_DEPTH):
        raise NestingTooDeepError
    return document


def duplicate_key(body: bytes) -> str | None:
    """The first repeated key in `body`; malformed JSON is left to the validator, which names it.
    Raises NestingTooDeepError."""
    try:
        loads_without_duplicates(body)
    except DuplicateKeyError as error:
        return error.key
    except ValueError:
        return None
    return None


def validated_body(model: type[Model], body: bytes) -> Model:
    """`body` as `model`. Raises NestingTooDeepError, DuplicateKeyError, or pydantic's ValidationError;
    each API words them in its own shape."""
    repeated = duplicate_key(body)
    if repeated is not None:
        raise DuplicateKeyError(repeated)
    return model.model_validate_json(body)
