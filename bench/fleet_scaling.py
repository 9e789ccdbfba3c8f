"""A fleet behind `paddler balancer`: aggregate tokens/s with 1, 2 and 3 agents (1 thread each) and the
latency HAProxy adds (time to first token, and a bare request's round trip, through the balancer against
straight to an agent, in alternating requests).

Writes docs/benchmarks/fleet.{md,json} (or --output). Short rounds by default: the machine may be shared.

Usage: python -m bench.fleet_scaling [--agents 1 2 3] [--rounds 2] [--latency-requests 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.bench_targets import ROOT, PaddlerHttpTarget, ServingConfig, paddler_balancer, paddler_server
from bench.engine_vs_llama_server import _percentile, _prompt, concurrent_load
from paddler.default_model import fetch_default_model
from paddler.startup.haproxy_process import find_haproxy, haproxy_build


def _wait_for_agents(balancer: PaddlerHttpTarget, count: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        agents = httpx.get(f"{balancer.management_url}/api/v1/agents").json()["agents"]
        if len(agents) == count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the balancer never listed {count} agents")


def _round_trip(target: PaddlerHttpTarget) -> float:
    started = time.perf_counter()
    target.client.get("/health").raise_for_status()
    return time.perf_counter() - started


def measure_latency(
    agent: PaddlerHttpTarget, balancer: PaddlerHttpTarget, requests: int, seed: int
) -> dict[str, list[float]]:
    """Alternating requests, so both sides see the same load on the machine (and each goes first half the
    time): time to first token of a short prompt (1 token), a new prompt every time (a prompt repeated
    would be served from the agent's cache), and a bare GET /health round trip (the agent's inference
    service either way)."""
    generator = random.Random(seed)
    samples: dict[str, list[float]] = {"ttft direct": [], "ttft balancer": [], "rtt direct": [], "rtt balancer": []}
    sides = [("direct", agent), ("balancer", balancer)]
    for _ in range(requests):
        sides.reverse()
        for side, target in sides:
            completion = target.complete(_prompt(generator, 4), 1)
            samples[f"ttft {side}"].append(completion.first_token - completion.started)
            samples[f"rtt {side}"].append(_round_trip(target))
    return samples


def _ms(values: list[float], share: float) -> float:
    return 1000 * _percentile(values, share)


def _report(
    arguments: argparse.Namespace,
    throughput: dict[int, list[float]],
    latency: dict[str, list[float]],
    load_before: float,
) -> str:
    load = os.getloadavg()
    haproxy = haproxy_build(find_haproxy())
    lines = [
        "# A fleet behind HAProxy: throughput and the latency the balancer adds",
        "",
        f"`python -m bench.fleet_scaling` on {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores "
        f"(1-minute load average {load_before:.1f} before, {load[0]:.1f} at the end), default model, "
        f"agents of 1 thread and {arguments.slots} slots, greedy, {arguments.max_tokens} tokens per completion, "
        f"short prompts, HAProxy {haproxy.version} (stream relay {'on' if haproxy.runs_the_relay else 'off'}). "
        f"Short rounds ({arguments.rounds} per agent count, "
        f"{arguments.requests_per_client} completions per client): read the figures as indications, "
        "not as a capacity plan.",
        "",
        "## Aggregate tokens/s",
        "",
        f"{arguments.slots} clients per agent (every slot busy), through the balancer; median of the rounds "
        "(each round's value in brackets).",
        "",
        "| agents | threads in all | tokens/s | per agent | rounds |",
        "|---|---|---|---|---|",
    ]
    for agents, rates in throughput.items():
        median = statistics.median(rates)
        rounds = ", ".join(f"{rate:.1f}" for rate in rates)
        lines.append(f"| {agents} | {agents} | {median:.1f} | {median / agents:.1f} | {rounds} |")
    lines += [
        "",
        "## Latency the balancer adds",
        "",
        f"The first agent against the balancer with {min(throughput)} agent(s); "
        f"{len(latency['ttft direct'])} alternating requests straight to the agent and through HAProxy "
        "(one at a time).",
        "",
        "| measure | direct p50 | balancer p50 | added p50 | direct p99 | balancer p99 | added p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for measure, name in (("ttft", "time to first token (1-token completion)"), ("rtt", "GET /health round trip")):
        direct, through = latency[f"{measure} direct"], latency[f"{measure} balancer"]
        p50 = (_ms(direct, 0.5), _ms(through, 0.5))
        p99 = (_ms(direct, 0.99), _ms(through, 0.99))
        lines.append(
            f"| {name} | {p50[0]:.2f} ms | {p50[1]:.2f} ms | {p50[1] - p50[0]:+.2f} ms "
            f"| {p99[0]:.2f} ms | {p99[1]:.2f} ms | {p99[1] - p99[0]:+.2f} ms |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests-per-client", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--latency-requests", type=int, default=60)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "fleet")
    arguments = parser.parse_args()
    config = ServingConfig(
        arguments.model or fetch_default_model(show_progress=False), threads=1, slots=arguments.slots, context_size=4096
    )
    throughput: dict[int, list[float]] = {}
    latency: dict[str, list[float]] = {}
    load_before = os.getloadavg()[0]
    with ExitStack() as stack:
        balancer = stack.enter_context(paddler_balancer())
        joining = ("--balancer-addr", balancer.management_url.removeprefix("http://"))
        agents: list[PaddlerHttpTarget] = []
        for count in sorted(arguments.agents):
            while len(agents) < count:
                agents.append(stack.enter_context(paddler_server(config, options=joining)))
            _wait_for_agents(balancer, count)
            if not latency:
                latency = measure_latency(agents[0], balancer, arguments.latency_requests, arguments.seed)
            throughput[count] = [
                concurrent_load(
                    balancer,
                    count * arguments.slots,
                    arguments.seed + round_,
                    arguments.requests_per_client,
                    arguments.max_tokens,
                )[0]
                for round_ in range(arguments.rounds)
            ]
            print(f"{count} agents: {throughput[count]}", flush=True)
    report = _report(arguments, throughput, latency, load_before)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.with_suffix(".md").write_text(report)
    arguments.output.with_suffix(".json").write_text(
        json.dumps({"throughput": throughput, "latency_seconds": latency}, indent=2)
    )
    print(report)


if __name__ == "__main__":
    main()
