"""Bounds on what one Jinja operation may build, checked before it runs.

A chat template is untrusted code, and a few characters of it can ask for gigabytes: `" "|center(10**9)`,
`"%999999999s" % x`, `"{:>999999999}".format(x)`, `x.ljust(10**9)`, `[x] * 10**6 | join`, or a string
doubled with `~` in a loop. Each such operation is sized from its inputs first (strings by length,
containers by their items) and refused with TemplateSizeError past MAX_BUILT_CHARS, before any memory
is taken. The render deadline and the output cap still bound everything else.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

MAX_BUILT_CHARS = 8 * 1024 * 1024
# %[flags][width][.precision]: the numbers of a printf-style conversion.
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


class TemplateSizeError(ValueError):
    """An operation of the template would build more than MAX_BUILT_CHARS characters."""


def check_size(size: int, what: str) -> None:
    if size > MAX_BUILT_CHARS:
        raise TemplateSizeError(f"{what} would build {size:,} characters; a template may build {MAX_BUILT_CHARS:,}")


def value_size(value: Any, budget: int = MAX_BUILT_CHARS) -> int:
    """Characters `value` may render to: a string's length, a container's items summed (counting stops
    once past `budget`, so sizing a large value stays cheap); other values count as small."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        total = len(value)
        for item in value:
            if total > budget:
                break
            total += value_size(item, budget - total)
        return total
    return 16


def _numbers_size(spec: str) -> int:
    return sum(int(number) for number in _NUMBER.findall(spec))


def check_printf(template: str, arguments: Any) -> None:
    """`template % arguments`: every width and precision counts in full; `*` widths are refused."""
    size = len(template) + value_size(arguments)
    for match in _PRINTF_SPEC.finditer(template):
        for number in match.groups():
            if number == "*":
                raise TemplateSizeError("'*' widths are not allowed in templates")
            size += int(number or 0)
    check_size(size, "a % format")


def check_format(template: str, arguments: Iterable[Any]) -> None:
    """`template.format(...)`: widths and precisions in every field count in full; a width taken from
    an argument (`{:{width}}`) is refused."""
    size = len(template) + value_size(list(arguments))
    for _, _, spec, _ in string.Formatter().parse(template):
        if spec:
            if "{" in spec:
                raise TemplateSizeError("nested format fields are not allowed in templates")
            size += _numbers_size(spec)
    check_size(size, "a format")


def check_repetition(sequence: Any, times: Any) -> None:
    if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
        check_size(value_size(sequence) * max(times, 0), "a repetition")


def check_addition(left: Any, right: Any) -> None:
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        check_size(value_size(left) + value_size(right), "a concatenation")


def check_padding(text: str, width: Any, what: str) -> None:
    """center, ljust, rjust, zfill: the result is as wide as asked."""
    if isinstance(width, int):
        check_size(max(len(text), width), what)


def check_indent(text: str, width: Any) -> None:
    indent = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    check_size(len(text) + (text.count("\n") + 1) * indent, "an indent")


def check_replace(text: str, old: Any, new: Any) -> None:
    if isinstance(old, str) and isinstance(new, str):
        occurrences = len(text) + 1 if not old else text.count(old)
        check_size(len(text) + occurrences * len(new), "a replace")


def check_join(separator: str, items: list[Any]) -> None:
    check_size(value_size(items) + len(separator) * len(items), "a join")


def check_str_method(text: str, name: str, arguments: tuple[Any, ...], keywords: dict[str, Any]) -> None:
    """The str methods that can grow a string, called from a template."""
    first = arguments[0] if arguments else None
    if name in ("center", "ljust", "rjust", "zfill"):
        check_padding(text, keywords.get("width", first), f"str.{name}")
    elif name == "expandtabs":
        tabsize = keywords.get("tabsize", 8 if first is None else first)
        if isinstance(tabsize, int):
            check_size(len(text) + text.count("\t") * tabsize, "str.expandtabs")
    elif name == "replace" and len(arguments) >= 2:
        check_replace(text, arguments[0], arguments[1])
    elif name == "join" and isinstance(first, (list, tuple)):
        check_join(text, list(first))
