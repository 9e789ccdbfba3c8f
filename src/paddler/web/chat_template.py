"""Chat prompts rendered from a model's Jinja chat template, in a sandbox.

Templates come from model files and from users, so they are untrusted code: they run in Jinja2's
immutable sandbox (no attribute tricks, no file or module access, ranges capped), with a deadline and
an output cap checked while rendering.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RENDER_SECONDS = 2.0
MAX_PROMPT_CHARS = 8 * 1024 * 1024


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


def _environment() -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, extensions=[loopcontrols, _GenerationTag]
    )
    environment.globals["raise_exception"] = _raise_exception
    environment.globals["strftime_now"] = _strftime_now
    environment.filters["tojson"] = _tojson
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
    except TemplateError as error:
        raise ChatTemplateError(f"chat template error: {error}") from error
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as error:
        raise ChatTemplateError(f"chat template failed: {error!r}") from error


def _bounded_join(chunks: Any) -> str:
    deadline = time.monotonic() + MAX_RENDER_SECONDS
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_PROMPT_CHARS:
            raise ChatTemplateError(f"chat template produced more than {MAX_PROMPT_CHARS} characters")
        if time.monotonic() > deadline:
            raise ChatTemplateError(f"chat template took longer than {MAX_RENDER_SECONDS} s to render")
    return "".join(parts)


def check_chat_template(template: str) -> None:
    """Raise ChatTemplateError when the template does not compile."""
    try:
        _ENVIRONMENT.from_string(template)
    except TemplateError as error:
        raise ChatTemplateError(f"chat template does not compile: {error}") from error
