"""Chat templates in the sandbox: real templates of many families (from the vendored llama.cpp tree),
thinking on and off, tools, and templates that must fail cleanly."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from paddler.web.shared.chat_template import ChatTemplateError, render_chat_prompt

from ..conftest import llama_cpp_dir

MESSAGES = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hello"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def _template(name: str) -> str:
    return (llama_cpp_dir() / "models" / "templates" / name).read_text()


def _render(
    template: str,
    *,
    thinking: bool = True,
    tools: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
) -> str:
    return render_chat_prompt(
        template,
        messages or MESSAGES,
        add_generation_prompt=True,
        enable_thinking=thinking,
        tools=tools or [],
        bos_token="<s>",
        eos_token="</s>",
    )


def test_real_templates_render_or_fail_cleanly() -> None:
    templates = sorted((llama_cpp_dir() / "models" / "templates").glob("*.jinja"))
    assert len(templates) > 50
    rendered = 0
    for path in templates:
        for tools in (None, TOOLS):
            try:
                prompt = _render(path.read_text(), tools=tools)
            except ChatTemplateError:
                continue
            assert "Hello" in prompt, path.name
            rendered += 1
    assert rendered >= 0.95 * 2 * len(templates)


def test_qwen3_thinking_switch_and_tools() -> None:
    template = _template("Qwen-Qwen3-0.6B.jinja")
    assert "<think>\n\n</think>" in _render(template, thinking=False)
    assert "<think>" not in _render(template, thinking=True)
    with_tools = _render(template, tools=TOOLS)
    assert "get_weather" in with_tools
    assert "<tool_call>" in with_tools


def test_llama3_mistral_and_gemma_families() -> None:
    assert "<|start_header_id|>user<|end_header_id|>" in _render(_template("meta-llama-Llama-3.1-8B-Instruct.jinja"))
    mistral = _render(_template("Mistral-Small-3.2-24B-Instruct-2506.jinja"))
    assert "[INST]Hello[/INST]" in mistral
    gemma = _template("google-gemma-2-2b-it.jinja")
    with pytest.raises(ChatTemplateError, match="System role not supported"):
        _render(gemma)
    assert "<start_of_turn>user\nHello<end_of_turn>" in _render(gemma, messages=MESSAGES[1:])


def test_a_template_cannot_reach_python_internals() -> None:
    with pytest.raises(ChatTemplateError):
        _render("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ChatTemplateError):
        _render("{% for message in messages %}{{ message.update({'role': 'x'}) }}{% endfor %}")


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxx{% endfor %}{% endfor %}", "characters"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "longer than"),
        ("{{ 'x' * 1000000000 }}", "a repetition would build"),
        ("{{ 10 ** 100000000 }}", "exponent"),
        ("{% for i in range(10**7) %}{% endfor %}", "exceeds"),
    ],
)
def test_rendering_is_bounded(template: str, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(ChatTemplateError, match=reason):
        _render(template)
    assert time.monotonic() - started < 10


def test_broken_templates_fail_with_the_reason() -> None:
    with pytest.raises(ChatTemplateError, match="unknown tag"):
        _render("{% frobnicate %}")
    with pytest.raises(ChatTemplateError, match="custom failure"):
        _render("{{ raise_exception('custom failure') }}")


def test_loop_controls_generation_tags_and_tojson() -> None:
    template = (
        "{% for message in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
        "{% generation %}{{ message.content }}{% endgeneration %}{% endfor %}|{{ tools | tojson }}"
    )
    assert _render(template, tools=[{"name": "café"}]) == 'You are helpful.|[{"name": "café"}]'


def test_vocab_gguf_templates_render(vocab_models_dir: Path) -> None:
    from paddler.llama import LlamaModel  # noqa: PLC0415 - tests may read templates through the binding

    with LlamaModel(vocab_models_dir / "ggml-vocab-gemma-4.gguf", vocab_only=True) as model:
        template = model.chat_template
    assert template is not None
    assert "Hello" in _render(template, messages=MESSAGES[1:])


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x'|center(1000000000) }}",
        "{{ '%999999999s' % 'x' }}",
        "{{ '%.999999999f' % 1.5 }}",
        "{{ '%*s' % (999999999, 'x') }}",
        "{{ '%999999999s'|format('x') }}",
        "{{ '{:>999999999}'.format('x') }}",
        "{{ '{:>{w}}'.format('x', w=999999999) }}",
        "{{ '{a:>999999999}'.format_map({'a': 1}) }}",
        "{{ 'x'.ljust(999999999) }}",
        "{{ 'x'.rjust(999999999) }}",
        "{{ 'x'.center(999999999) }}",
        "{{ 'x'.zfill(999999999) }}",
        "{{ ('\t' * 100).expandtabs(999999) }}",
        "{{ 'x' * 999999999 }}",
        "{{ ('a' * 1000)|replace('a', 'b' * 1000000) }}",
        "{{ ('a' * 1000).replace('a', 'b' * 1000000) }}",
        "{{ 'a\nb'|indent(999999999) }}",
        "{{ [1]|batch(999999999, 0)|list|length }}",
        "{{ [1]|slice(999999999)|list|length }}",
        "{{ [1, [2]]|tojson(indent=999999999) }}",
        "{% set x = 'a' * 8000000 %}{{ ([x] * 100)|join }}",
        "{% set x = 'a' * 8000000 %}{{ ''.join([x, x]) }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set t %}{{ ns.s }}{{ ns.s }}{% endset %}"
        "{% set ns.s = t %}{% endfor %}{{ ns.s }}",
        "{{ lipsum(999999) }}",
    ],
)
def test_templates_that_would_build_huge_strings_fail_at_once(template: str) -> None:
    started = time.monotonic()
    with pytest.raises(ChatTemplateError):
        _render(template)
    assert time.monotonic() - started < 1.0, "refused before building, not stopped by the deadline"


def test_the_bounded_operations_work_at_ordinary_sizes() -> None:
    template = (
        "{% for m in messages %}{{ '%-6s' % m.role }}|{{ m.content|center(9) }}|{{ '{:>3}'.format(loop.index) }}"
        "|{{ m.content ~ '!' }}{% set tag %}[{{ m.role }}]{% endset %}{{ tag }}{{ '\n' }}{% endfor %}"
        "{{ ['a', 'b']|join(', ') }}|{{ 'x'.ljust(3) }}|{{ 'a b'|replace(' ', '_') }}|{{ [1, 2, 3]|batch(2, 0)|list }}"
        "|{{ {'a': 1}|tojson(indent=2) }}|{{ 'ab' * 2 }}|{{ 'q'|indent(2, first=True) }}"
    )
    assert _render(template) == (
        "system|You are helpful.|  1|You are helpful.![system]\n"
        "user  |  Hello  |  2|Hello![user]\n"
        'a, b|x  |a_b|[[1, 2], [3, 0]]|{\n  "a": 1\n}|abab|  q'
    )
