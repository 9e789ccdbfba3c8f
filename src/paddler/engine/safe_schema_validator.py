"""A JSON Schema validator for a schema a client sent: it never retrieves anything, every `$ref` must
land on a subschema of the schema itself, and `pattern`/`patternProperties` run on RE2 (linear time),
so a schema can neither make the server fetch a URL, nor fail on a missing definition, nor backtrack
for minutes with the GIL held."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import re2
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema_specifications import REGISTRY as METASCHEMAS
from referencing.jsonschema import Schema, SchemaRegistry, SchemaResource

from paddler.engine.engine_errors import UnsafeSchemaError

SchemaSpecification = referencing.Specification[Schema]
SchemaResolver = Any  # referencing does not export its Resolver class

Validator = Any
_Keyword = Callable[[Any, Any, Any, dict[str, Any]], Iterator[ValidationError]]
_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is answered to the client, not logged by RE2
    return options


_RE2_OPTIONS = _re2_options()


def _regex(pattern: str) -> Any:
    """The compiled pattern (RE2 keeps the last 128 in a cache)."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _pattern(validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _regex(pattern)
        for key, value in instance.items():
            if regex.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # jsonschema's own version matches patternProperties with Python's `re`.
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    regexes = [_regex(pattern) for pattern in schema.get("patternProperties", {})]
    extras = sorted(
        (key for key in instance if key not in properties and not any(regex.search(key) for regex in regexes)),
        key=str,
    )
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        names = ", ".join(repr(extra) for extra in extras)
        if regexes:
            patterns = ", ".join(repr(pattern) for pattern in sorted(schema["patternProperties"]))
            yield ValidationError(
                f"{names} {'does' if len(extras) == 1 else 'do'} not match any of the regexes: {patterns}"
            )
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


_SAFE_KEYWORDS: dict[str, _Keyword] = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}
_safe_classes: dict[type, type] = {}


def _safe_class(base: type) -> type:
    safe = _safe_classes.get(base)
    if safe is None:
        safe = jsonschema.validators.extend(base, validators=_SAFE_KEYWORDS)
        _safe_classes[base] = safe
    return safe


def _refuse_retrieval(uri: str) -> SchemaResource:
    raise referencing.exceptions.NoSuchResource(uri)


def _registry() -> SchemaRegistry:
    """A registry that holds nothing yet and never retrieves."""
    return referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def _walk(
    schema: Any, specification: SchemaSpecification, resolver: SchemaResolver
) -> Iterator[tuple[dict[str, Any], SchemaResolver]]:
    """Every subschema (as the dialect of the root reads them) with the resolver of its base URI."""
    pending = [(schema, resolver)]
    while pending:
        contents, resolver = pending.pop()
        if not isinstance(contents, dict):
            continue
        yield contents, resolver
        for child in specification.subresources_of(contents):
            pending.append((child, resolver.in_subresource(specification.create_resource(child))))


def _check_reference(reference: str, resolver: SchemaResolver, subschemas: set[int]) -> None:
    if not reference.startswith("#"):
        raise UnsafeSchemaError(f"$ref {reference!r} does not point into the schema itself")
    try:
        resolved = resolver.lookup(reference)
    except referencing.exceptions.Unresolvable:
        raise UnsafeSchemaError(f"$ref {reference!r} points to nothing in the schema") from None
    if id(resolved.contents) not in subschemas:
        raise UnsafeSchemaError(f"$ref {reference!r} does not point to a subschema of the schema")


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, str):
        return
    try:
        _regex(pattern)
    except re2.error as error:
        reason = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) else error
        raise UnsafeSchemaError(f"pattern {pattern!r} is not supported (RE2 syntax, linear time): {reason}") from None


def _check(schema: Any, specification: SchemaSpecification) -> None:
    # The metaschemas are there as during validation, so an `$id` that names one cannot borrow it.
    registry = METASCHEMAS.combine(_registry())
    root = specification.create_resource(schema)
    walked = list(_walk(schema, specification, registry.resolver_with_root(root)))
    subschemas = {id(contents) for contents, _ in walked}
    subschemas.add(id(schema))
    for contents, resolver in walked:
        for keyword in _REFERENCE_KEYWORDS:
            reference = contents.get(keyword)
            if isinstance(reference, str):
                _check_reference(reference, resolver, subschemas)
        _check_pattern(contents.get("pattern"))
        pattern_properties = contents.get("patternProperties")
        if isinstance(pattern_properties, dict):
            for pattern in pattern_properties:
                _check_pattern(pattern)
    if any("unevaluatedProperties" in contents for contents, _ in walked) and any(
        "patternProperties" in contents for contents, _ in walked
    ):
        # jsonschema evaluates these together with Python's `re`, which can backtrack without end.
        raise UnsafeSchemaError("unevaluatedProperties together with patternProperties is not supported")


def _one_dialect(schema: Any, specification: SchemaSpecification) -> None:
    """Drops every `$schema`: a subschema naming its own dialect would be validated by jsonschema's
    stock class for it, with Python's `re`."""
    for contents, _ in _walk(schema, specification, _registry().resolver()):
        contents.pop("$schema", None)


def safe_validator(schema: Any) -> Validator:
    """A validator of `schema` (already checked against its metaschema) that is safe to run on any
    instance; raises UnsafeSchemaError naming what makes the schema unsafe."""
    base = jsonschema.validators.validator_for(schema)
    specification = referencing.jsonschema.specification_with(
        base.META_SCHEMA.get("$schema", ""), default=referencing.jsonschema.DRAFT202012
    )
    schema = copy.deepcopy(schema)
    try:
        _one_dialect(schema, specification)
        _check(schema, specification)
    except UnsafeSchemaError:
        raise
    except Exception as error:  # a shape the checks did not foresee: refused rather than guessed at
        raise UnsafeSchemaError(f"the schema could not be checked: {error!r}") from None
    return _safe_class(base)(schema, registry=_registry())
