"""Chat prompts rendered from a model's Jinja chat template, in a sandbox.

Templates come from model files and from users, so they are untrusted code: they run in Jinja2's
immutable sandbox (no attribute tricks, no file or module access, ranges capped), with a deadline and
an output cap checked while rendering.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RENDER_SECONDS = 2.0
MAX_PROMPT_CHARS = 8 * 1024 * 1024
MAX_RANGE_ITEMS = 100_000
MAX_EXPONENT = 1024


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


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus bounds on what `*` and `**` may build."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _RenderDeadline.check()
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise ChatTemplateError(f"exponent {right} is too large")
        if (
            operator == "*"
            and isinstance(left, (str, list))
            and isinstance(right, int)
            and len(left) * right > MAX_PROMPT_CHARS
        ):
            raise ChatTemplateError("a repeated value would exceed the prompt size limit")
        if (
            operator == "*"
            and isinstance(right, (str, list))
            and isinstance(left, int)
            and len(right) * left > MAX_PROMPT_CHARS
        ):
            raise ChatTemplateError("a repeated value would exceed the prompt size limit")
        return super().call_binop(context, operator, left, right)


def _environment() -> ImmutableSandboxedEnvironment:
    environment = _BoundedSandbox(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, extensions=[loopcontrols, _GenerationTag]
    )
    environment.globals["raise_exception"] = _raise_exception
    environment.globals["strftime_now"] = _strftime_now
    environment.filters["tojson"] = _tojson
    environment.globals["range"] = _bounded_range
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
