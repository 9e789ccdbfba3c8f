"""paddler's engine against llama-server, same model, threads, slots, context and seeded workload.

Writes docs/benchmarks/engine-vs-llama-server.{md,json,png} (or --output): single-stream decode and
prompt processing tokens/s, aggregate tokens/s and TTFT percentiles at several concurrencies with short
prompts and with long ones (a shared ~400-token opening, as a system prompt), embedding documents/s,
the share of each engine step spent outside llama_decode, and how much a 2,000-token prompt arriving
slows 8 running streams (their inter-token latency p95 while it is prefilled, over their p95 without it).

Usage: python -m bench.engine_vs_llama_server [--threads 2] [--concurrency 1 4 8 16] [--kv-layout defaults]
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
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.bench_targets import (
    ROOT,
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


# A shared opening of ~400 tokens before each long prompt, like a system prompt every request repeats.
SHARED_OPENING = "You are a storyteller. " + " ".join(random.Random(7).choice(WORDS) for _ in range(330)) + "\n"
# Prompt sets: name -> (shared opening, words of its own).
PROMPT_SETS = {"short": ("", 60), "long": (SHARED_OPENING, 60)}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass(slots=True)
class TargetResults:
    """Medians over the rounds; the lists hold one value per round."""

    single_stream_decode: list[float] = field(default_factory=list)
    prompt_processing: list[float] = field(default_factory=list)
    # Keyed by "<prompt set> <streams>", e.g. "long 16".
    aggregate: dict[str, list[float]] = field(default_factory=dict)
    ttft_p50: dict[str, list[float]] = field(default_factory=dict)
    ttft_p95: dict[str, list[float]] = field(default_factory=dict)
    embeddings: list[float] = field(default_factory=list)
    overhead_share: list[float] = field(default_factory=list)
    # Running streams' inter-token latency p95 without and while a long prompt is prefilled (s).
    itl_p95_alone: list[float] = field(default_factory=list)
    itl_p95_long_prompt: list[float] = field(default_factory=list)
    # That long prompt's own time to its first token (s): what keeping the streams flowing costs it.
    long_prompt_ttft: list[float] = field(default_factory=list)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def decode_rate(target: Target, prompt: str, max_tokens: int = 128) -> float:
    """Tokens/s between the first and the last token of one streamed request."""
    completion = target.complete(prompt, max_tokens)
    return (completion.generated_tokens - 1) / (completion.last_token - completion.first_token)


def prompt_rate(target: Target, prompt: str) -> float:
    """Prompt tokens/s up to the first token of one request."""
    completion = target.complete(prompt, 1)
    return completion.prompt_tokens / (completion.first_token - completion.started)


def single_requests(targets: Targets, seed: int, runs: int = 3) -> None:
    """Single-stream decode and prompt processing, the median of `runs` requests each, the targets taking
    turns request by request so that each pair of requests meets the same state of the host."""
    generator = random.Random(seed)
    decode_prompts = [_prompt(generator, 30) for _ in range(runs)]
    long_prompts = [_prompt(generator, 700) for _ in range(runs)]
    decode: dict[int, list[float]] = {index: [] for index in range(len(targets))}
    prompt: dict[int, list[float]] = {index: [] for index in range(len(targets))}
    for run in range(runs):
        for index, (target, _) in enumerate(targets):
            decode[index].append(decode_rate(target, decode_prompts[run]))
            prompt[index].append(prompt_rate(target, long_prompts[run]))
    for index, (_, results) in enumerate(targets):
        results.single_stream_decode.append(statistics.median(decode[index]))
        results.prompt_processing.append(statistics.median(prompt[index]))


def concurrent_load(
    target: Target, clients: int, seed: int, per_client: int, max_tokens: int, *, prompt_set: str = "short"
) -> tuple[float, list[float]]:
    generator = random.Random(seed)
    opening, words = PROMPT_SETS[prompt_set]
    prompts = [[opening + _prompt(generator, words) for _ in range(per_client)] for _ in range(clients)]

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


def _gaps(times: tuple[float, ...], since: float, until: float) -> list[float]:
    """Inter-token gaps of one stream that overlap [since, until] (a stall that the long prompt caused
    ends just after its first token)."""
    return [later - earlier for earlier, later in pairwise(times) if later >= since and earlier <= until]


def running_streams_itl(
    target: Target, seed: int, long_prompt: bool, streams: int = 8, max_tokens: int = 96
) -> tuple[float, float | None]:
    """p95 inter-token latency of `streams` running streams: over their whole run, or, with
    `long_prompt`, over the gaps that end while a ~2,000-token prompt (submitted once every stream
    has its first tokens) is prefilled, up to its first token; and that prompt's time to first token."""
    generator = random.Random(seed)
    prompts = [_prompt(generator, 20) for _ in range(streams)]
    long_text = _prompt(generator, 1500)
    with ThreadPoolExecutor(streams + 1) as pool:
        running = [pool.submit(target.complete, prompt, max_tokens) for prompt in prompts]
        window = (0.0, float("inf"))
        long_ttft = None
        if long_prompt:
            time.sleep(1.5)
            completion = target.complete(long_text, 1)
            window = (completion.started, completion.first_token)
            long_ttft = completion.first_token - completion.started
        completions = [future.result() for future in running]
    gaps = [gap for completion in completions for gap in _gaps(completion.token_times, *window)]
    return (_percentile(gaps, 0.95) if gaps else 0.0), long_ttft


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


def measure_generation(targets: Targets, arguments: argparse.Namespace, seed: int) -> None:
    """One round: every measure taken on each target in turn, one cell after the other."""
    single_requests(targets, seed)
    for prompt_set in arguments.prompt_sets:
        for clients in arguments.concurrency:
            for target, results in targets:
                measure_cell(target, results, arguments, prompt_set=prompt_set, clients=clients, seed=seed + clients)


def measure_cell(
    target: Target,
    results: TargetResults,
    arguments: argparse.Namespace,
    *,
    prompt_set: str,
    clients: int,
    seed: int,
) -> None:
    """Aggregate tokens/s and TTFT of one cell (a prompt set at a number of streams) on one target."""
    key = f"{prompt_set} {clients}"
    before = _engine_seconds(target)
    rate, ttfts = concurrent_load(
        target, clients, seed, arguments.requests_per_client, arguments.max_tokens, prompt_set=prompt_set
    )
    results.aggregate.setdefault(key, []).append(rate)
    results.ttft_p50.setdefault(key, []).append(_percentile(ttfts, 0.5))
    results.ttft_p95.setdefault(key, []).append(_percentile(ttfts, 0.95))
    after = _engine_seconds(target)
    if before is not None and after is not None and key == f"short {max(arguments.concurrency)}":
        step, decode = after[0] - before[0], after[1] - before[1]
        results.overhead_share.append(1.0 - decode / step)
    print(
        f"  {target.name}: {key} streams -> {rate:.1f} tokens/s, TTFT p50 {results.ttft_p50[key][-1]:.3f} s",
        flush=True,
    )


def measure_long_prompt(target: Target, results: TargetResults, seed: int) -> None:
    alone, _ = running_streams_itl(target, seed, long_prompt=False)
    beside, long_ttft = running_streams_itl(target, seed, long_prompt=True)
    assert long_ttft is not None
    results.itl_p95_alone.append(alone)
    results.itl_p95_long_prompt.append(beside)
    results.long_prompt_ttft.append(long_ttft)
    print(
        f"  {target.name}: ITL p95 {alone * 1000:.0f} ms alone, {beside * 1000:.0f} ms while a long prompt is "
        f"prefilled, which took {long_ttft:.1f} s to its first token",
        flush=True,
    )


# The servers measured side by side, each with its results.
Targets = list[tuple[Target, TargetResults]]


@dataclass(frozen=True, slots=True)
class Summary:
    single_stream_decode: float
    prompt_processing: float
    aggregate: dict[str, float]
    ttft_p50: dict[str, float]
    ttft_p95: dict[str, float]
    embeddings: float
    overhead_share: float | None
    itl_p95_alone: float
    itl_p95_long_prompt: float
    long_prompt_ttft: float


def summarize(results: TargetResults) -> Summary:
    return Summary(
        single_stream_decode=_median(results.single_stream_decode),
        prompt_processing=_median(results.prompt_processing),
        aggregate={level: _median(values) for level, values in results.aggregate.items()},
        ttft_p50={level: _median(values) for level, values in results.ttft_p50.items()},
        ttft_p95={level: _median(values) for level, values in results.ttft_p95.items()},
        embeddings=_median(results.embeddings),
        overhead_share=_median(results.overhead_share) if results.overhead_share else None,
        itl_p95_alone=_median(results.itl_p95_alone),
        itl_p95_long_prompt=_median(results.itl_p95_long_prompt),
        long_prompt_ttft=_median(results.long_prompt_ttft),
    )


_PADDLER_SIDES = {
    "http": "over HTTP through its OpenAI-compatible API (/v1/completions, streamed) on its development server",
    "gunicorn": "over HTTP through its OpenAI-compatible API (/v1/completions, streamed) under gunicorn "
    "(the shipped gunicorn.conf.py)",
    "engine": "through its engine API in process",
}


def _both_rounds(
    ours: TargetResults, theirs: TargetResults, measure: str, key: str | None = None
) -> tuple[list[float], list[float]]:
    """One measure's values per round on both sides (`key`: a "<prompt set> <streams>" cell)."""
    mine, other = getattr(ours, measure), getattr(theirs, measure)
    return (mine.get(key, []), other.get(key, [])) if key is not None else (mine, other)


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "—"


_LAYOUTS = {
    "defaults": "each on its own default KV layout (paddler's adaptive: a KV stream per slot, one pool only "
    "while a request needs more; llama-server given -np splits the pool per slot)",
    "unified": "both on one unified KV pool shared by every slot",
    "per-slot": "both with a KV stream of context-size/slots cells per slot",
    "adaptive": "paddler with --kv-layout adaptive (a KV stream per slot, one pool only while a request needs more) "
    "against llama-server's default layout (-np splits the pool per slot)",
}


def _per_round(ours: list[float], theirs: list[float]) -> str:
    """Each round's ratio: both servers are measured in the same round, so drift of the host between
    rounds cancels out of these, which the ratio of medians does not do."""
    return ", ".join(f"{mine / other:.2f}" for mine, other in zip(ours, theirs, strict=False) if other) or "—"


def _row(
    measure: str,
    ours: float,
    theirs: float,
    rounds: tuple[list[float], list[float]],
    *,
    scale: float = 1.0,
    digits: int = 1,
) -> str:
    return (
        f"| {measure} | {ours * scale:.{digits}f} | {theirs * scale:.{digits}f} | {_ratio(ours, theirs)} "
        f"| {_per_round(*rounds)} |"
    )


def _report(
    ours_rounds: TargetResults, theirs_rounds: TargetResults, arguments: argparse.Namespace, config: ServingConfig
) -> str:
    ours, theirs = summarize(ours_rounds), summarize(theirs_rounds)
    both = partial(_both_rounds, ours_rounds, theirs_rounds)
    lines = [
        "# paddler engine vs llama-server",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} cores; "
        f"llama.cpp {version()} (llama-server built from the same vendored source by `bench/build_llama_tools.sh`).",
        f"Model `{config.model_path.name}`, {config.threads} threads, {config.slots} slots, KV cache of "
        f"{config.context_size} tokens ({config.cache_type}) {_LAYOUTS[config.kv_layout]}, n_batch {config.n_batch}, "
        f"n_ubatch {config.n_ubatch}, greedy sampling, end-of-generation ignored so both sides generate exactly "
        f"{arguments.max_tokens} tokens per request ({arguments.requests_per_client} requests per client); "
        f"seed {arguments.seed}. Short prompts are ~80 tokens; long ones share a ~400-token opening (~490 tokens).",
        f"Both servers stay up side by side and take turns measure by measure (single requests one by one), "
        f"{arguments.rounds} rounds; "
        "each figure is the median over the rounds; the last column gives each round's own ratio.",
        f"paddler is driven {_PADDLER_SIDES[arguments.paddler_api]}, "
        "llama-server through its own HTTP streaming API, both with the same seeded prompts. "
        f"Produced by `python -m bench.engine_vs_llama_server --kv-layout {config.kv_layout}`.",
        "",
        "| measure | paddler | llama-server | ratio | ratio per round |",
        "|---|---:|---:|---:|---|",
        _row(
            "single-stream decode (tokens/s)",
            ours.single_stream_decode,
            theirs.single_stream_decode,
            both("single_stream_decode"),
        ),
        _row(
            "prompt processing (tokens/s)", ours.prompt_processing, theirs.prompt_processing, both("prompt_processing")
        ),
    ]
    for key in ours.aggregate:
        lines.append(
            _row(
                f"aggregate, {key} streams (tokens/s)",
                ours.aggregate[key],
                theirs.aggregate[key],
                both("aggregate", key),
            )
        )
    for key in ours.ttft_p50:
        lines.append(
            f"| TTFT p50 / p95, {key} streams (ms) | {ours.ttft_p50[key] * 1000:.0f} / "
            f"{ours.ttft_p95[key] * 1000:.0f} | {theirs.ttft_p50[key] * 1000:.0f} / "
            f"{theirs.ttft_p95[key] * 1000:.0f} | {_ratio(ours.ttft_p50[key], theirs.ttft_p50[key])} "
            f"| {_per_round(*both('ttft_p50', key))} |"
        )
    if ours.itl_p95_alone:
        lines += [
            _row(
                "8 running streams: ITL p95 alone (ms)",
                ours.itl_p95_alone,
                theirs.itl_p95_alone,
                both("itl_p95_alone"),
                scale=1000,
                digits=0,
            ),
            _row(
                "8 running streams: ITL p95 while a 2,000-token prompt is prefilled (ms)",
                ours.itl_p95_long_prompt,
                theirs.itl_p95_long_prompt,
                both("itl_p95_long_prompt"),
                scale=1000,
                digits=0,
            ),
            f"| 8 running streams: ITL p95 with the long prompt / alone | "
            f"{_ratio(ours.itl_p95_long_prompt, ours.itl_p95_alone)} | "
            f"{_ratio(theirs.itl_p95_long_prompt, theirs.itl_p95_alone)} | — | — |",
            _row(
                "the 2,000-token prompt's own TTFT beside them (s)",
                ours.long_prompt_ttft,
                theirs.long_prompt_ttft,
                both("long_prompt_ttft"),
                digits=1,
            ),
        ]
    if ours.embeddings:
        lines.append(
            _row(
                "embeddings, batches of 32 short documents (documents/s)",
                ours.embeddings,
                theirs.embeddings,
                both("embeddings"),
            )
        )
    if ours.overhead_share is not None:
        lines.append(
            f"| engine step time outside llama_decode at {max(arguments.concurrency)} streams | "
            f"{ours.overhead_share * 100:.1f}% | — | — | — |"
        )
    lines += [
        "",
        "Throughput ratios: higher is better for paddler; TTFT and ITL ratios: lower is better.",
        "",
        f"![aggregate throughput and TTFT]({arguments.output.name}.png)",
        "",
    ]
    return "\n".join(lines)


def _plot(ours: Summary, theirs: Summary, arguments: argparse.Namespace, path: Path) -> None:
    concurrency = arguments.concurrency
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(10, 4))
    for label, summary in (("paddler", ours), ("llama-server", theirs)):
        for prompt_set, style in zip(arguments.prompt_sets, ("-", "--"), strict=False):
            keys = [f"{prompt_set} {level}" for level in concurrency]
            name = f"{label}, {prompt_set} prompts"
            throughput.plot(concurrency, [summary.aggregate[key] for key in keys], style, marker="o", label=name)
            latency.plot(concurrency, [summary.ttft_p50[key] * 1000 for key in keys], style, marker="o", label=name)
    throughput.set(title="Aggregate generation", xlabel="concurrent streams", ylabel="tokens/s")
    latency.set(title="Time to first token (p50)", xlabel="concurrent streams", ylabel="ms")
    for axes in (throughput, latency):
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _long_prompt_config(config: ServingConfig) -> ServingConfig:
    """Room for 8 running streams and one 2,000-token prompt in a slot of its own, on either layout."""
    return replace(config, slots=9, context_size=9 * 2304)


def _paddler_side(
    arguments: argparse.Namespace, config: ServingConfig, *, embeddings: bool = False
) -> AbstractContextManager[Target]:
    """paddler as --paddler-api asks: its server (development or gunicorn) or its engine in process."""
    if arguments.paddler_api == "engine":
        return paddler_engine(config, embeddings=embeddings)
    return paddler_server(config, embeddings=embeddings, gunicorn=arguments.paddler_api == "gunicorn")


def _start_targets(
    stack: ExitStack,
    arguments: argparse.Namespace,
    config: ServingConfig,
    results: tuple[TargetResults, TargetResults, TargetResults],
) -> Targets:
    """llama-server, paddler and, when asked, the baseline paddler, each with where its results go."""
    theirs, ours, before = results
    paddler: Target = stack.enter_context(_paddler_side(arguments, config))
    targets: list[tuple[Target, TargetResults]] = [
        (stack.enter_context(llama_server(arguments.llama_server, config)), theirs),
        (paddler, ours),
    ]
    if arguments.baseline_python:
        baseline = stack.enter_context(paddler_server(config, python=arguments.baseline_python))
        baseline.name = "paddler (baseline)"
        targets.append((baseline, before))
    return targets


def _write_outputs(
    arguments: argparse.Namespace, config: ServingConfig, results: tuple[TargetResults, TargetResults, TargetResults]
) -> None:
    """The report, its JSON (every round of every target) and its plot; the baseline's report beside."""
    ours, theirs, before = results
    if arguments.baseline_python:
        baseline_report = _report(before, theirs, arguments, config)
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.with_name(arguments.output.name + "-baseline.md").write_text(baseline_report)
        print(baseline_report)

    summaries = {"paddler": summarize(ours), "llama-server": summarize(theirs)}
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    report = _report(ours, theirs, arguments, config)
    arguments.output.with_suffix(".md").write_text(report)
    arguments.output.with_suffix(".json").write_text(
        json.dumps(
            {
                name: {"summary": asdict(summarize(raw)), "rounds": asdict(raw)}
                for name, raw in (("paddler", ours), ("llama-server", theirs), ("baseline", before))
            },
            indent=2,
        )
    )
    if not arguments.skip_load:
        _plot(summaries["paddler"], summaries["llama-server"], arguments, arguments.output.with_suffix(".png"))
    print(report)


def serving_config(arguments: argparse.Namespace, slots: int) -> ServingConfig:
    """The servers' shared settings from the command line (--model, --threads, --context-size), with
    llama-server built first when --llama-server names no binary yet."""
    if not arguments.llama_server.exists():
        subprocess.run([str(ROOT / "bench" / "build_llama_tools.sh")], check=True)
    return ServingConfig(
        model_path=arguments.model or fetch_default_model(),
        threads=arguments.threads,
        slots=slots,
        context_size=arguments.context_size,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--prompt-sets", nargs="+", choices=list(PROMPT_SETS), default=list(PROMPT_SETS))
    parser.add_argument("--requests-per-client", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--context-size", type=int, default=16384)
    parser.add_argument("--kv-layout", choices=list(_LAYOUTS), default="defaults")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-embeddings", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="skip decode, prompt and concurrent-load measures")
    parser.add_argument("--skip-long-prompt", action="store_true", help="skip the running streams' ITL measure")
    parser.add_argument(
        "--paddler-api",
        choices=list(_PADDLER_SIDES),
        default="http",
        help="drive paddler over HTTP (its OpenAI API, like llama-server) on its development server, the same "
        "under gunicorn, or in process",
    )
    parser.add_argument("--llama-server", type=Path, default=ROOT / "build" / "llama-tools" / "bin" / "llama-server")
    parser.add_argument(
        "--baseline-python",
        help="also serve the paddler of this interpreter (e.g. another checkout's .venv/bin/python) over "
        "HTTP in the same alternating rounds, reported as <output>-baseline.md",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "engine-vs-llama-server")
    arguments = parser.parse_args()
    config = replace(serving_config(arguments, max(arguments.concurrency)), kv_layout=arguments.kv_layout)
    ours, theirs, before = TargetResults(), TargetResults(), TargetResults()
    if not arguments.skip_load:
        with ExitStack() as stack:
            targets = _start_targets(stack, arguments, config, (theirs, ours, before))
            for target, _ in targets:
                target.complete("Warm up.", 8)
            for round_index in range(arguments.rounds):
                measure_generation(targets, arguments, arguments.seed + 1000 * round_index)
    if not arguments.skip_long_prompt:
        long_config = _long_prompt_config(config)
        with ExitStack() as stack:
            targets = _start_targets(stack, arguments, long_config, (theirs, ours, before))
            for round_index in range(arguments.rounds):
                for target, results in targets:
                    measure_long_prompt(target, results, arguments.seed + round_index)
    if not arguments.skip_embeddings:
        with (
            llama_server(arguments.llama_server, config, embeddings=True) as server,
            _paddler_side(arguments, config, embeddings=True) as engine,
        ):
            for round_index in range(arguments.rounds):
                for target, results in ((server, theirs), (engine, ours)):
                    results.embeddings.append(embedding_rate(target, arguments.seed + round_index))
    _write_outputs(arguments, config, (ours, theirs, before))


if __name__ == "__main__":
    main()
