"""Prefix sharing across slots against llama-server: 16 concurrent streams whose prompts share one
~400-token system prompt (or 4 of them, 4 streams each) before distinct ~20-token user messages, and a
workload with nothing to share, 64 generated tokens each.

Every target serves the same seeded prompts in the same alternating rounds: llama-server on its
default per-slot layout, paddler on one KV pool with sharing on, the same without sharing (what paddler
did before it) and paddler with a KV stream per slot and sharing on (what its adaptive default serves
these prompts with). Each round uses fresh
system prompts, so what is measured is the first wave of a new application's chats (no server holds
them from an earlier round). Writes docs/benchmarks/shared-prefix-vs-llama-server.{md,json,png}.

Usage: python -m bench.shared_prefix_vs_llama_server [--rounds 2] [--streams 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.bench_targets import ROOT, ServingConfig, Target, llama_server, paddler_server
from bench.engine_vs_llama_server import WORDS, _median, _percentile, serving_config
from paddler.llama import version

# Workload name -> distinct system prompts among the streams (0: every prompt distinct from its start).
WORKLOADS = {"one system prompt": 1, "four system prompts": 4, "nothing shared": 0}
# Target name -> (KV layout, more paddler serve options); llama-server is measured beside them.
PADDLER_TARGETS = {
    "paddler (sharing, one KV pool)": ("unified", ()),
    "paddler (no sharing, one KV pool)": ("unified", ("--no-prefix-sharing",)),
    "paddler (sharing, KV stream per slot: the adaptive default here)": ("per-slot", ()),
}
LLAMA_SERVER = "llama-server"


def _words(generator: random.Random, count: int) -> str:
    return " ".join(generator.choice(WORDS) for _ in range(count))


def workload_prompts(workload: str, streams: int, seed: int) -> list[str]:
    """~400 tokens of system prompt (shared by streams / systems of them) and ~20 of user message each."""
    # Seeded by the workload too, so no workload repeats another's system prompts.
    generator = random.Random(f"{seed} {workload}")
    systems = WORKLOADS[workload]
    openings = [f"You are assistant {seed}-{index}. {_words(generator, 330)}\n" for index in range(systems)]
    prompts = []
    for stream in range(streams):
        opening = openings[stream % systems] if systems else f"Story {stream}: {_words(generator, 330)}\n"
        prompts.append(f"{opening}User {stream}: {_words(generator, 14)}\nAssistant:")
    return prompts


@dataclass(frozen=True, slots=True)
class Measure:
    aggregate: float
    ttft_p50: float
    ttft_p95: float


def measure(target: Target, prompts: list[str], max_tokens: int) -> Measure:
    """Every prompt at once, one client each: aggregate generated tokens/s over the wall time, TTFT."""
    started = time.perf_counter()
    with ThreadPoolExecutor(len(prompts)) as pool:
        completions = list(pool.map(lambda prompt: target.complete(prompt, max_tokens), prompts))
    wall = time.perf_counter() - started
    ttfts = [completion.first_token - completion.started for completion in completions]
    generated = sum(completion.generated_tokens for completion in completions)
    return Measure(generated / wall, _percentile(ttfts, 0.5), _percentile(ttfts, 0.95))


def _report(rounds: dict[str, dict[str, list[Measure]]], arguments: argparse.Namespace, config: ServingConfig) -> str:
    lines = [
        "# Prefix sharing across slots vs llama-server",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} cores "
        f"(1-minute load average {os.getloadavg()[0]:.1f} at the end; on a loaded machine read the ratios as "
        f"directions); llama.cpp {version()}, llama-server built from the same vendored source.",
        f"Model `{config.model_path.name}`, {config.threads} threads, {config.slots} slots, KV cache of "
        f"{config.context_size} tokens ({config.cache_type}), n_batch {config.n_batch}, n_ubatch {config.n_ubatch}, "
        f"greedy, end-of-generation ignored so every stream generates {arguments.max_tokens} tokens. "
        f"{arguments.streams} streams start at once, each over HTTP with its own client; system prompts ~400 "
        "tokens, user messages ~20; fresh system prompts every round. "
        f"{arguments.rounds} alternating rounds, medians shown. "
        "Produced by `python -m bench.shared_prefix_vs_llama_server`.",
        "",
        "| workload | server | aggregate tokens/s | ratio | TTFT p50 / p95 (ms) | TTFT p50 ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for workload in arguments.workloads:
        theirs = rounds[LLAMA_SERVER][workload]
        their_aggregate = _median([m.aggregate for m in theirs])
        their_ttft = _median([m.ttft_p50 for m in theirs])
        for name, by_workload in rounds.items():
            measures = by_workload[workload]
            aggregate = _median([m.aggregate for m in measures])
            p50 = _median([m.ttft_p50 for m in measures])
            p95 = _median([m.ttft_p95 for m in measures])
            lines.append(
                f"| {workload} | {name} | {aggregate:.1f} | {aggregate / their_aggregate:.2f}x | "
                f"{p50 * 1000:.0f} / {p95 * 1000:.0f} | {p50 / their_ttft:.2f}x |"
            )
    lines += [
        "",
        "Ratios are against llama-server in the same rounds: aggregate higher is better, TTFT lower is better.",
        "",
        f"![aggregate throughput and TTFT]({arguments.output.name}.png)",
        "",
    ]
    return "\n".join(lines)


def _plot(rounds: dict[str, dict[str, list[Measure]]], workloads: list[str], path: Path) -> None:
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(rounds)
    for offset, (name, by_workload) in enumerate(rounds.items()):
        positions = [index + offset * width for index in range(len(workloads))]
        aggregates = [_median([m.aggregate for m in by_workload[w]]) for w in workloads]
        throughput.bar(positions, aggregates, width, label=name)
        latency.bar(positions, [_median([m.ttft_p50 for m in by_workload[w]]) * 1000 for w in workloads], width)
    for axes, title, unit in ((throughput, "Aggregate generation", "tokens/s"), (latency, "TTFT p50", "ms")):
        axes.set_xticks([index + 0.4 - width / 2 for index in range(len(workloads))], workloads)
        axes.set(title=title, ylabel=unit)
        axes.grid(alpha=0.3, axis="y")
    throughput.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--context-size", type=int, default=16384)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--llama-server", type=Path, default=ROOT / "build" / "llama-tools" / "bin" / "llama-server")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "shared-prefix-vs-llama-server")
    arguments = parser.parse_args()
    config = serving_config(arguments, arguments.streams)
    rounds: dict[str, dict[str, list[Measure]]] = {}
    with ExitStack() as stack:
        targets: dict[str, Target] = {LLAMA_SERVER: stack.enter_context(llama_server(arguments.llama_server, config))}
        for name, (layout, options) in PADDLER_TARGETS.items():
            targets[name] = stack.enter_context(paddler_server(replace(config, kv_layout=layout), options=options))
        for target in targets.values():
            target.complete("Warm up.", 8)
        for round_index in range(arguments.rounds):
            for workload in arguments.workloads:
                prompts = workload_prompts(workload, arguments.streams, arguments.seed + 1000 * round_index)
                for name, target in targets.items():
                    result = measure(target, prompts, arguments.max_tokens)
                    rounds.setdefault(name, {}).setdefault(workload, []).append(result)
                    print(
                        f"round {round_index + 1}, {workload}, {name}: {result.aggregate:.1f} tokens/s, "
                        f"TTFT p50 {result.ttft_p50 * 1000:.0f} ms",
                        flush=True,
                    )
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    report = _report(rounds, arguments, config)
    arguments.output.with_suffix(".md").write_text(report)
    arguments.output.with_suffix(".json").write_text(
        json.dumps(
            {name: {w: [asdict(m) for m in ms] for w, ms in by.items()} for name, by in rounds.items()}, indent=2
        )
    )
    _plot(rounds, arguments.workloads, arguments.output.with_suffix(".png"))
    print(report)


if __name__ == "__main__":
    main()
