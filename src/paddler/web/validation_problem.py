"""The one problem a 400 names when a request body fails validation."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError


def validation_problem(error: ValidationError) -> tuple[str, str]:
    """(dotted location, message) of the most specific error: for a value that matches no member of a
    union, the member it got furthest into (an RmsNorm's epsilon, not "should be 'L2'")."""
    # Among equally deep errors, one that is not a plain wrong-type error says more (a list too long
    # rather than "should be a string").
    deepest = max(error.errors(), key=lambda detail: (len(detail["loc"]), not detail["type"].endswith("_type")))
    return ".".join(str(part) for part in deepest["loc"]), deepest["msg"]


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
    `{"max_tokens": 1, "max_tokens": 1e9}` cannot mean something a checking proxy did not see."""
    return json.loads(data, object_pairs_hook=_reject_duplicates)


def duplicate_key(body: bytes) -> str | None:
    """The first repeated key in `body`; malformed JSON is left to the validator, which names it."""
    try:
        loads_without_duplicates(body)
    except DuplicateKeyError as error:
        return error.key
    except (ValueError, RecursionError):
        return None
    return None
