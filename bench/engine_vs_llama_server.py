"""paddler's engine against llama-server, same model, threads, slots, context and seeded workload.

Writes docs/benchmarks/engine-vs-llama-server.{md,json,png}: single-stream decode and prompt
processing tokens/s, aggregate tokens/s and TTFT percentiles at several concurrencies, embedding
documents/s, and the share of each engine step spent outside llama_decode.

Usage: python bench/engine_vs_llama_server.py [--threads 2] [--concurrency 1 4 8 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.bench_targets import (
    EngineTarget,
    PaddlerHttpTarget,
    ServingConfig,
    Target,
    llama_server,
    paddler_engine,
    paddler_server,
)
from paddler.default_model import fetch_default_model
from paddler.llama import version

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    "river",
    "mountain",
    "lantern",
    "quiet",
    "orange",
    "harbor",
    "velvet",
    "thunder",
    "meadow",
    "copper",
    "whisper",
    "garden",
    "silver",
    "forest",
    "candle",
    "island",
    "marble",
    "echo",
    "falcon",
    "amber",
    "winter",
    "planet",
    "signal",
    "ribbon",
]


def _prompt(generator: random.Random, words: int) -> str:
    return "Continue this story: " + " ".join(generator.choice(WORDS) for _ in range(words))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass(slots=True)
class TargetResults:
    """Medians over the rounds; the lists hold one value per round."""

    single_stream_decode: list[float] = field(default_factory=list)
    prompt_processing: list[float] = field(default_factory=list)
    aggregate: dict[int, list[float]] = field(default_factory=dict)
    ttft_p50: dict[int, list[float]] = field(default_factory=dict)
    ttft_p95: dict[int, list[float]] = field(default_factory=dict)
    embeddings: list[float] = field(default_factory=list)
    overhead_share: list[float] = field(default_factory=list)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def single_stream_decode(target: Target, seed: int, runs: int = 3, max_tokens: int = 128) -> float:
    generator = random.Random(seed)
    rates = []
    for _ in range(runs):
        completion = target.complete(_prompt(generator, 30), max_tokens)
        rates.append((completion.generated_tokens - 1) / (completion.last_token - completion.first_token))
    return statistics.median(rates)


def prompt_processing(target: Target, seed: int, runs: int = 3) -> float:
    generator = random.Random(seed)
    rates = []
    for _ in range(runs):
        completion = target.complete(_prompt(generator, 700), 1)
        rates.append(completion.prompt_tokens / (completion.first_token - completion.started))
    return statistics.median(rates)


def concurrent_load(
    target: Target, clients: int, seed: int, per_client: int, max_tokens: int
) -> tuple[float, list[float]]:
    generator = random.Random(seed)
    prompts = [[_prompt(generator, 60) for _ in range(per_client)] for _ in range(clients)]

    def client(own_prompts: list[str]) -> list[tuple[float, int]]:
        outcomes = []
        for prompt in own_prompts:
            completion = target.complete(prompt, max_tokens)
            outcomes.append((completion.first_token - completion.started, completion.generated_tokens))
        return outcomes

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = [outcome for results in pool.map(client, prompts) for outcome in results]
    wall = time.perf_counter() - started
    return sum(tokens for _, tokens in outcomes) / wall, [ttft for ttft, _ in outcomes]


def embedding_rate(target: Target, seed: int, batches: int = 5, documents: int = 32) -> float:
    generator = random.Random(seed)
    target.embed([_prompt(generator, 12) for _ in range(documents)])  # warm-up
    started = time.perf_counter()
    embedded = sum(target.embed([_prompt(generator, 12) for _ in range(documents)]) for _ in range(batches))
    return embedded / (time.perf_counter() - started)


def _engine_seconds(target: Target) -> tuple[float, float] | None:
    """paddler's cumulative (step, decode) seconds, to measure the engine's own overhead."""
    if isinstance(target, EngineTarget):
        stats = target.engine.stats()
        return stats.step_seconds, stats.decode_seconds
    if isinstance(target, PaddlerHttpTarget):
        return target.engine_seconds()
    return None


def measure_generation(target: Target, arguments: argparse.Namespace, results: TargetResults, seed: int) -> None:
    results.single_stream_decode.append(single_stream_decode(target, seed))
    results.prompt_processing.append(prompt_processing(target, seed + 1))
    for clients in arguments.concurrency:
        before = _engine_seconds(target)
        rate, ttfts = concurrent_load(
            target, clients, seed + clients, arguments.requests_per_client, arguments.max_tokens
        )
        results.aggregate.setdefault(clients, []).append(rate)
        results.ttft_p50.setdefault(clients, []).append(_percentile(ttfts, 0.5))
        results.ttft_p95.setdefault(clients, []).append(_percentile(ttfts, 0.95))
        after = _engine_seconds(target)
        if before is not None and after is not None and clients == max(arguments.concurrency):
            step, decode = after[0] - before[0], after[1] - before[1]
            results.overhead_share.append(1.0 - decode / step)
        print(
            f"  {target.name}: {clients} streams -> {rate:.1f} tokens/s, TTFT p50 "
            f"{results.ttft_p50[clients][-1]:.3f} s",
            flush=True,
        )


@dataclass(frozen=True, slots=True)
class Summary:
    single_stream_decode: float
    prompt_processing: float
    aggregate: dict[int, float]
    ttft_p50: dict[int, float]
    ttft_p95: dict[int, float]
    embeddings: float
    overhead_share: float | None


def summarize(results: TargetResults) -> Summary:
    return Summary(
        single_stream_decode=_median(results.single_stream_decode),
        prompt_processing=_median(results.prompt_processing),
        aggregate={level: _median(values) for level, values in results.aggregate.items()},
        ttft_p50={level: _median(values) for level, values in results.ttft_p50.items()},
        ttft_p95={level: _median(values) for level, values in results.ttft_p95.items()},
        embeddings=_median(results.embeddings),
        overhead_share=_median(results.overhead_share) if results.overhead_share else None,
    )


_PADDLER_SIDES = {
    "http": "over HTTP through its OpenAI-compatible API (/v1/completions, streamed)",
    "engine": "through its engine API in process",
}


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "—"


def _report(ours: Summary, theirs: Summary, arguments: argparse.Namespace, config: ServingConfig) -> str:
    lines = [
        "# paddler engine vs llama-server",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} cores; "
        f"llama.cpp {version()} (llama-server built from the same vendored source by `bench/build_llama_tools.sh`).",
        f"Model `{config.model_path.name}`, {config.threads} threads, {config.slots} slots, unified KV cache of "
        f"{config.context_size} tokens ({config.cache_type}), n_batch {config.n_batch}, n_ubatch {config.n_ubatch}, "
        f"greedy sampling, end-of-generation ignored so both sides generate exactly {arguments.max_tokens} tokens "
        f"per request ({arguments.requests_per_client} requests per client); seed {arguments.seed}.",
        f"Both servers stay up side by side and are measured in turn, {arguments.rounds} alternating rounds; "
        "each figure is the median over the rounds.",
        f"paddler is driven {_PADDLER_SIDES[arguments.paddler_api]}, "
        "llama-server through its own HTTP streaming API, both with the same seeded prompts. "
        "Produced by `python -m bench.engine_vs_llama_server`.",
        "",
        "| measure | paddler | llama-server | ratio |",
        "|---|---:|---:|---:|",
        f"| single-stream decode (tokens/s) | {ours.single_stream_decode:.1f} | {theirs.single_stream_decode:.1f} | "
        f"{_ratio(ours.single_stream_decode, theirs.single_stream_decode)} |",
        f"| prompt processing (tokens/s) | {ours.prompt_processing:.1f} | {theirs.prompt_processing:.1f} | "
        f"{_ratio(ours.prompt_processing, theirs.prompt_processing)} |",
    ]
    for clients in arguments.concurrency:
        lines.append(
            f"| aggregate at {clients} streams (tokens/s) | {ours.aggregate[clients]:.1f} | "
            f"{theirs.aggregate[clients]:.1f} | {_ratio(ours.aggregate[clients], theirs.aggregate[clients])} |"
        )
    for clients in arguments.concurrency:
        lines.append(
            f"| TTFT p50 / p95 at {clients} streams (ms) | {ours.ttft_p50[clients] * 1000:.0f} / "
            f"{ours.ttft_p95[clients] * 1000:.0f} | {theirs.ttft_p50[clients] * 1000:.0f} / "
            f"{theirs.ttft_p95[clients] * 1000:.0f} | {_ratio(ours.ttft_p50[clients], theirs.ttft_p50[clients])} |"
        )
    lines.append(
        f"| embeddings, batches of 32 short documents (documents/s) | {ours.embeddings:.1f} | "
        f"{theirs.embeddings:.1f} | {_ratio(ours.embeddings, theirs.embeddings)} |"
    )
    if ours.overhead_share is not None:
        lines.append(
            f"| engine step time outside llama_decode at {max(arguments.concurrency)} streams | "
            f"{ours.overhead_share * 100:.1f}% | — | — |"
        )
    lines += [
        "",
        "Throughput ratios: higher is better for paddler; TTFT ratio: lower is better.",
        "",
        "![aggregate throughput and TTFT](engine-vs-llama-server.png)",
        "",
    ]
    return "\n".join(lines)


def _plot(ours: Summary, theirs: Summary, concurrency: list[int], path: Path) -> None:
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(10, 4))
    for label, summary in (("paddler", ours), ("llama-server", theirs)):
        throughput.plot(concurrency, [summary.aggregate[level] for level in concurrency], marker="o", label=label)
        latency.plot(concurrency, [summary.ttft_p50[level] * 1000 for level in concurrency], marker="o", label=label)
    throughput.set(title="Aggregate generation", xlabel="concurrent streams", ylabel="tokens/s")
    latency.set(title="Time to first token (p50)", xlabel="concurrent streams", ylabel="ms")
    for axes in (throughput, latency):
        axes.legend()
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--requests-per-client", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--context-size", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--paddler-api",
        choices=["http", "engine"],
        default="http",
        help="drive paddler over HTTP (its OpenAI API, like llama-server) or in process",
    )
    parser.add_argument("--llama-server", type=Path, default=ROOT / "build" / "llama-tools" / "bin" / "llama-server")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "engine-vs-llama-server")
    arguments = parser.parse_args()
    if not arguments.llama_server.exists():
        subprocess.run([str(ROOT / "bench" / "build_llama_tools.sh")], check=True)
    config = ServingConfig(
        model_path=arguments.model or fetch_default_model(),
        threads=arguments.threads,
        slots=max(arguments.concurrency),
        context_size=arguments.context_size,
    )
    ours, theirs = TargetResults(), TargetResults()
    ours_side = paddler_server if arguments.paddler_api == "http" else paddler_engine
    with llama_server(arguments.llama_server, config) as server, ours_side(config) as engine:
        for target in (server, engine):
            target.complete("Warm up.", 8)
        for round_index in range(arguments.rounds):
            for target, results in ((server, theirs), (engine, ours)):
                measure_generation(target, arguments, results, arguments.seed + 1000 * round_index)
    with (
        llama_server(arguments.llama_server, config, embeddings=True) as server,
        ours_side(config, embeddings=True) as engine,
    ):
        for round_index in range(arguments.rounds):
            for target, results in ((server, theirs), (engine, ours)):
                results.embeddings.append(embedding_rate(target, arguments.seed + round_index))

    summaries = {"paddler": summarize(ours), "llama-server": summarize(theirs)}
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    report = _report(summaries["paddler"], summaries["llama-server"], arguments, config)
    arguments.output.with_suffix(".md").write_text(report)
    arguments.output.with_suffix(".json").write_text(
        json.dumps(
            {
                name: {"summary": asdict(summaries[name]), "rounds": asdict(raw)}
                for name, raw in (("paddler", ours), ("llama-server", theirs))
            },
            indent=2,
        )
    )
    _plot(summaries["paddler"], summaries["llama-server"], arguments.concurrency, arguments.output.with_suffix(".png"))
    print(report)


if __name__ == "__main__":
    main()
