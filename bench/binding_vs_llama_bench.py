"""Decode speed of the binding against llama.cpp's own llama-bench, same model, threads and source.

Runs llama-bench's two standard tests through paddler.llama — pp512 (one 512-token prompt batch)
and tg128 (128 single-token decodes) — then llama-bench itself, and writes a table of tokens/s and
ratios to docs/benchmarks/. Also times tg128 with greedy sampling, the loop a server really runs.

Usage: python bench/binding_vs_llama_bench.py [--threads 2] [--repetitions 5] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy

from bench.bench_targets import ROOT
from paddler.default_model import fetch_default_model
from paddler.llama import DecodeOutcome, LlamaBatch, LlamaContext, LlamaModel, LlamaSampler, version

PROMPT_TOKENS = 512
GENERATED_TOKENS = 128


def _random_tokens(model: LlamaModel, count: int, generator: numpy.random.Generator) -> list[int]:
    tokens: list[int] = [int(token) for token in generator.integers(0, model.vocab.n_tokens, size=count)]
    if model.vocab.add_bos and model.vocab.bos is not None:
        tokens[0] = model.vocab.bos
    return tokens


def _prompt_run(
    model: LlamaModel, context: LlamaContext, batch: LlamaBatch, generator: numpy.random.Generator
) -> float:
    context.memory_clear()
    batch.clear()
    batch.add_sequence(_random_tokens(model, PROMPT_TOKENS, generator), 0, 0)
    started = time.perf_counter()
    assert context.decode(batch) is DecodeOutcome.OK
    return PROMPT_TOKENS / (time.perf_counter() - started)


def _generation_run(
    model: LlamaModel, context: LlamaContext, batch: LlamaBatch, generator: numpy.random.Generator
) -> float:
    context.memory_clear()
    tokens = _random_tokens(model, GENERATED_TOKENS, generator)
    started = time.perf_counter()
    for position, token in enumerate(tokens):
        batch.clear()
        batch.add(token, position, 0, output=True)
        assert context.decode(batch) is DecodeOutcome.OK
    return GENERATED_TOKENS / (time.perf_counter() - started)


def _sampled_generation_run(
    model: LlamaModel, context: LlamaContext, batch: LlamaBatch, generator: numpy.random.Generator
) -> float:
    context.memory_clear()
    token = _random_tokens(model, 1, generator)[0]
    with LlamaSampler(model.vocab, temperature=0) as sampler:
        started = time.perf_counter()
        for position in range(GENERATED_TOKENS):
            batch.clear()
            batch.add(token, position, 0, output=True)
            assert context.decode(batch) is DecodeOutcome.OK
            token = sampler.sample(context, 0)
        return GENERATED_TOKENS / (time.perf_counter() - started)


Run = Callable[[LlamaModel, LlamaContext, LlamaBatch, numpy.random.Generator], float]


def _measure(model: LlamaModel, run: Run, n_ctx: int, threads: int, repetitions: int) -> list[float]:
    generator = numpy.random.default_rng(1234)
    with (
        LlamaContext(model, n_ctx=n_ctx, n_batch=2048, n_ubatch=512, n_threads=threads) as context,
        LlamaBatch(PROMPT_TOKENS) as batch,
    ):
        run(model, context, batch, generator)  # warm-up, as llama-bench does
        return [run(model, context, batch, generator) for _ in range(repetitions)]


def _llama_bench(binary: Path, model_path: Path, threads: int, repetitions: int) -> dict[str, float]:
    command = [
        str(binary),
        "-m",
        str(model_path),
        "-t",
        str(threads),
        "-p",
        str(PROMPT_TOKENS),
        "-n",
        str(GENERATED_TOKENS),
        "-r",
        str(repetitions),
        "-b",
        "2048",
        "-ub",
        "512",
        "-o",
        "json",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    results = {}
    for entry in json.loads(completed.stdout):
        name = f"pp{entry['n_prompt']}" if entry["n_prompt"] else f"tg{entry['n_gen']}"
        results[name] = float(entry["avg_ts"])
    return results


def _table(ours: dict[str, list[float]], theirs: dict[str, list[float]]) -> list[str]:
    lines = ["| test | paddler.llama tokens/s | llama-bench tokens/s | ratio |", "|---|---:|---:|---:|"]
    for name, samples in ours.items():
        mean = statistics.median(samples)
        reference_samples = theirs.get(name.split("+")[0])
        if reference_samples:
            reference = statistics.median(reference_samples)
            lines.append(f"| {name} | {mean:.1f} | {reference:.1f} | {mean / reference:.3f}x |")
        else:
            lines.append(f"| {name} | {mean:.1f} | — | — |")
    return lines


def _our_round(model: LlamaModel, threads: int, repetitions: int) -> dict[str, float]:
    """Mean tokens/s of each test; contexts sized as llama-bench sizes them (n_prompt + n_gen)."""
    runs: dict[str, tuple[Run, int]] = {
        "pp512": (_prompt_run, PROMPT_TOKENS),
        "tg128": (_generation_run, GENERATED_TOKENS),
        "tg128+greedy sampling": (_sampled_generation_run, GENERATED_TOKENS),
    }
    return {
        name: statistics.fmean(_measure(model, run, n_ctx, threads, repetitions)) for name, (run, n_ctx) in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="GGUF to test (default: the default model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=5, help="runs per test and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of paddler and llama-bench")
    parser.add_argument("--llama-bench", type=Path, default=ROOT / "build" / "llama-tools" / "bin" / "llama-bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "binding-vs-llama-bench.md")
    arguments = parser.parse_args()
    if not arguments.llama_bench.exists():
        subprocess.run([str(ROOT / "bench" / "build_llama_tools.sh")], check=True)
    model_path = arguments.model or fetch_default_model()

    ours: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    with LlamaModel(model_path) as model:
        description = model.description
        for _ in range(arguments.rounds):
            for name, rate in _our_round(model, arguments.threads, arguments.repetitions).items():
                ours.setdefault(name, []).append(rate)
            for name, rate in _llama_bench(
                arguments.llama_bench, model_path, arguments.threads, arguments.repetitions
            ).items():
                theirs.setdefault(name, []).append(rate)

    report = [
        "# Binding decode speed vs llama-bench",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} cores, "
        f"{arguments.threads} threads, model `{Path(model_path).name}` ({description}), llama.cpp {version()} "
        "built from the same vendored source. Each figure is the median over "
        f"{arguments.rounds} alternating rounds of the mean of {arguments.repetitions} runs (after a warm-up).",
        "",
        "Produced by `python bench/binding_vs_llama_bench.py`. `tg128+greedy sampling` adds sampling with "
        "the binding's sampler to every step; llama-bench has no counterpart, so its ratio is against plain "
        "tg128 and shows what sampling costs.",
        "",
        *_table(ours, theirs),
        "",
    ]
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text("\n".join(report))
    print("\n".join(report))


if __name__ == "__main__":
    main()
