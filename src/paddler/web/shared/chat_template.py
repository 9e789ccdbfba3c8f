"""Chat prompts rendered from a model's Jinja chat template, in a sandbox.

Templates come from model files and from users, so they are untrusted code: they run in Jinja2's
immutable sandbox (no attribute tricks, no file or module access, ranges capped), with a deadline and
an output cap checked while rendering, and every operation that can grow a string sized before it runs
(template_bounds).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.ext import Extension, loopcontrols
from jinja2.filters import do_batch, do_center, do_format, do_indent, do_join, do_replace, do_slice, do_wordwrap
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from paddler.web.shared.template_bounds import (
    TemplateSizeError,
    check_addition,
    check_format,
    check_indent,
    check_join,
    check_padding,
    check_printf,
    check_repetition,
    check_replace,
    check_size,
    check_str_method,
)

MAX_RENDER_SECONDS = 2.0
MAX_PROMPT_CHARS = 8 * 1024 * 1024
MAX_RANGE_ITEMS = 100_000
MAX_EXPONENT = 1024
MAX_JSON_INDENT = 16


class ChatTemplateError(ValueError):
    """The template failed to compile or render; the message says why."""


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _strftime_now(format_string: str) -> str:
    return datetime.now().strftime(format_string)


def _json_default(value: Any) -> Any:
    # Jinja filters such as map() yield generators; templates expect them serialized as lists.
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _tojson(
    value: Any,
    indent: int | None = None,
    ensure_ascii: bool = False,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
) -> str:
    """HF templates' tojson: plain JSON, non-ASCII kept (Jinja's own escapes HTML characters)."""
    if isinstance(indent, int) and indent > MAX_JSON_INDENT:
        raise TemplateSizeError(f"tojson indent {indent} exceeds {MAX_JSON_INDENT}")
    return json.dumps(
        value,
        indent=indent,
        ensure_ascii=ensure_ascii,
        sort_keys=sort_keys,
        separators=separators,
        default=_json_default,
    )


class _GenerationTag(Extension):
    """`{% generation %}…{% endgeneration %}` marks assistant text for training masks; rendering keeps
    the body as it is."""

    tags = {"generation"}  # noqa: RUF012 - the attribute Jinja reads

    def parse(self, parser: Parser) -> nodes.Node:
        line = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=line)


class _RenderDeadline:
    """The deadline of the render running on this thread; loops and large values check it."""

    local = threading.local()

    @classmethod
    def check(cls) -> None:
        deadline = getattr(cls.local, "deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise ChatTemplateError(f"chat template took longer than {MAX_RENDER_SECONDS} s to render")


def _bounded_range(*arguments: int) -> Iterator[int]:
    """range() that checks the render deadline as it goes, so loops that print nothing still end."""
    values = range(*arguments)
    if len(values) > MAX_RANGE_ITEMS:
        raise ChatTemplateError(f"range of {len(values)} items exceeds {MAX_RANGE_ITEMS}")
    for index, value in enumerate(values):
        if index % 1024 == 0:
            _RenderDeadline.check()
        yield value


def _bounded_concat(values: Iterable[Any]) -> str:
    """`~` and the bodies of block sets and macros: joined only when the result is within bounds."""
    parts = [str(value) for value in values]
    check_size(sum(len(part) for part in parts), "a concatenation")
    return "".join(parts)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to the environment's bounded join (Jinja's own str_join cannot be replaced)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's visitor name
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


def _bounded_center(value: str, width: int = 80) -> str:
    check_padding(str(value), width, "center")
    return do_center(value, width)


def _bounded_format(value: str, *args: Any, **kwargs: Any) -> str:
    check_printf(str(value), kwargs or args)
    return do_format(value, *args, **kwargs)


def _bounded_indent(text: str, width: int | str = 4, *args: Any, **kwargs: Any) -> str:
    check_indent(str(text), width)
    return do_indent(text, width, *args, **kwargs)


def _bounded_replace(context: Any, text: str, old: str, new: str, count: int | None = None) -> str:
    check_replace(str(text), old, new)
    return do_replace(context, text, old, new, count)


def _bounded_join_filter(context: Any, value: Iterable[Any], separator: str = "", attribute: Any = None) -> str:
    items = list(value)
    check_join(str(separator), items)
    return str(do_join(context, items, separator, attribute))


def _bounded_batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Any:
    if fill_with is not None:
        check_size(linecount, "a batch")
    return do_batch(value, linecount, fill_with)


def _bounded_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    check_size(slices, "a slice")
    return do_slice(value, slices, fill_with)


def _bounded_wordwrap(environment: Any, text: str, width: int = 79, *args: Any, **kwargs: Any) -> str:
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None) or "\n"
    check_size(len(str(text)) * (1 + len(str(wrapstring))), "a wordwrap")
    return do_wordwrap(environment, text, width, *args, **kwargs)


def _pass_like(original: Callable[..., Any], bounded: Callable[..., Any]) -> Callable[..., Any]:
    """The bounded filter, marked to receive what Jinja passes the original (context, environment)."""
    if hasattr(original, "jinja_pass_arg"):
        bounded.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


_BOUNDED_FILTERS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "center": (do_center, _bounded_center),
    "format": (do_format, _bounded_format),
    "indent": (do_indent, _bounded_indent),
    "replace": (do_replace, _bounded_replace),
    "join": (do_join, _bounded_join_filter),
    "batch": (do_batch, _bounded_batch),
    "slice": (do_slice, _bounded_slice),
    "wordwrap": (do_wordwrap, _bounded_wordwrap),
}


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus bounds (template_bounds) on what `*`, `+`, `%`, `**`, `~`, the
    str methods, and the filters that grow strings may build."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_bounded_concat)  # block sets and macro bodies
    bounded_concat = staticmethod(_bounded_concat)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _RenderDeadline.check()
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise ChatTemplateError(f"exponent {right} is too large")
        if operator == "*":
            check_repetition(left, right)
            check_repetition(right, left)
        elif operator == "+":
            check_addition(left, right)
        elif operator == "%" and isinstance(left, str):
            check_printf(left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        text = getattr(obj, "__self__", None)
        if isinstance(text, str):
            name = getattr(obj, "__name__", "")
            if name == "join" and args and not isinstance(args[0], (list, tuple)):
                args = (list(args[0]), *args[1:])
            check_str_method(text, name, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and str.format_map, sized before they run."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__
        by_mapping = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if by_mapping and args and isinstance(args[0], dict) else {}
            check_format(text, [*args, *kwargs.values(), *mapping.values()])
            return wrapped(*args, **kwargs)

        return bounded


def _environment() -> ImmutableSandboxedEnvironment:
    environment = _BoundedSandbox(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, extensions=[loopcontrols, _GenerationTag]
    )
    environment.globals["raise_exception"] = _raise_exception
    environment.globals["strftime_now"] = _strftime_now
    environment.filters["tojson"] = _tojson
    environment.globals["range"] = _bounded_range
    del environment.globals["lipsum"]  # lipsum(n) writes n paragraphs; no chat template needs it
    for name, (original, bounded) in _BOUNDED_FILTERS.items():
        environment.filters[name] = _pass_like(original, bounded)
    return environment


_ENVIRONMENT = _environment()


def render_chat_prompt(
    template: str,
    messages: Sequence[dict[str, Any]],
    *,
    add_generation_prompt: bool,
    enable_thinking: bool,
    tools: Sequence[dict[str, Any]] = (),
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    try:
        compiled = _ENVIRONMENT.from_string(template)
        chunks = compiled.generate(
            messages=list(messages),
            add_generation_prompt=add_generation_prompt,
            enable_thinking=enable_thinking,
            tools=list(tools),
            bos_token=bos_token,
            eos_token=eos_token,
        )
        return _bounded_join(chunks)
    except ChatTemplateError:
        raise
    except TemplateSizeError as error:
        raise ChatTemplateError(f"chat template refused: {error}") from error
    except TemplateError as error:
        raise ChatTemplateError(f"chat template error: {error}") from error
    except (
        TypeError,
        ValueError,
        KeyError,
        AttributeError,
        IndexError,
        RecursionError,
        OverflowError,
        MemoryError,
    ) as error:
        raise ChatTemplateError(f"chat template failed: {error!r}") from error


def _bounded_join(chunks: Any) -> str:
    _RenderDeadline.local.deadline = time.monotonic() + MAX_RENDER_SECONDS
    try:
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_PROMPT_CHARS:
                raise ChatTemplateError(f"chat template produced more than {MAX_PROMPT_CHARS} characters")
            _RenderDeadline.check()
        return "".join(parts)
    finally:
        _RenderDeadline.local.deadline = None


def check_chat_template(template: str) -> None:
    """Raise ChatTemplateError when the template does not compile."""
    try:
        _ENVIRONMENT.from_string(template)
    except TemplateError as error:
        raise ChatTemplateError(f"chat template does not compile: {error}") from error
