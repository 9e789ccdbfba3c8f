"""The one problem a 400 names when a request body fails validation."""

from __future__ import annotations

from pydantic import ValidationError


def validation_problem(error: ValidationError) -> tuple[str, str]:
    """(dotted location, message) of the most specific error: for a value that matches no member of a
    union, the member it got furthest into (an RmsNorm's epsilon, not "should be 'L2'")."""
    # Among equally deep errors, one that is not a plain wrong-type error says more (a list too long
    # rather than "should be a string").
    deepest = max(error.errors(), key=lambda detail: (len(detail["loc"]), not detail["type"].endswith("_type")))
    return ".".join(str(part) for part in deepest["loc"]), deepest["msg"]
