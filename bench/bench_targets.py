"""The two sides of a serving benchmark: paddler's engine and llama.cpp's llama-server, behind one
small interface so the same seeded workload drives both."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import httpx

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_settings import EngineSettings, KvLayout
from paddler.messages.embedding_normalization import L2_NORMALIZATION
from paddler.messages.embedding_result import DocumentEmbedding
from paddler.messages.generate_embedding_batch_params import EmbeddingDocument, GenerateEmbeddingBatchParams
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.sampling_params import GREEDY

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class ServingConfig:
    model_path: Path
    threads: int
    slots: int
    context_size: int
    n_batch: int = 2048
    n_ubatch: int = 512
    cache_type: str = "q8_0"
    # "defaults" leaves each server on its own default layout (paddler's: adaptive); "unified" and
    # "per-slot" set both; "adaptive" names paddler's explicitly, against llama-server's default.
    kv_layout: str = "defaults"


_KV_LAYOUT_FLAGS = {"defaults": [], "unified": ["--kv-unified"], "per-slot": ["--no-kv-unified"], "adaptive": []}
_PADDLER_KV_LAYOUT_FLAGS: dict[str, list[str]] = {
    "defaults": [],
    **{layout: ["--kv-layout", layout] for layout in KvLayout},
}


@dataclass(frozen=True, slots=True)
class Completion:
    """Client-side timings of one streamed completion."""

    started: float
    first_token: float
    last_token: float
    generated_tokens: int
    prompt_tokens: int
    # When each streamed piece of text arrived.
    token_times: tuple[float, ...] = ()


class Target(Protocol):
    name: str

    def complete(self, prompt: str, max_tokens: int) -> Completion: ...

    def embed(self, documents: list[str]) -> int: ...


class EngineTarget:
    """paddler's engine, in process (until the HTTP service lands, the engine API is what we measure)."""

    name = "paddler"

    def __init__(self, engine: ContinuousBatchEngine) -> None:
        self.engine = engine

    def complete(self, prompt: str, max_tokens: int) -> Completion:
        started = time.perf_counter()
        times: list[float] = []
        usage = None
        for result in self.engine.submit_generation(GenerateTokensParams(prompt, max_tokens, GREEDY, ignore_eog=True)):
            if isinstance(result, GeneratedToken):
                times.append(time.perf_counter())
            elif isinstance(result, GenerationDone):
                usage = result.usage
            else:
                raise RuntimeError(f"paddler failed: {result}")
        assert usage is not None
        return Completion(started, times[0], times[-1], usage.completion_tokens, usage.prompt_tokens, tuple(times))

    def embed(self, documents: list[str]) -> int:
        batch = tuple(EmbeddingDocument(str(index), text) for index, text in enumerate(documents))
        results = self.engine.submit_embeddings(GenerateEmbeddingBatchParams(batch, L2_NORMALIZATION))
        return sum(isinstance(result, DocumentEmbedding) for result in results)


class LlamaServerTarget:
    name = "llama-server"

    def __init__(self, base_url: str) -> None:
        # llama-server may close a connection after a stream; a fresh one per request avoids stale reuse.
        self.client = httpx.Client(base_url=base_url, timeout=600.0, limits=httpx.Limits(max_keepalive_connections=0))

    def complete(self, prompt: str, max_tokens: int) -> Completion:
        body = {
            "prompt": prompt,
            "n_predict": max_tokens,
            "stream": True,
            "temperature": 0.0,
            "top_k": 1,
            "ignore_eos": True,
            "cache_prompt": True,
        }
        started = time.perf_counter()
        times: list[float] = []
        final: dict[str, object] = {}
        with self.client.stream("POST", "/completion", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                chunk = json.loads(line[len("data: ") :])
                if chunk.get("content"):
                    times.append(time.perf_counter())
                if chunk.get("stop"):
                    final = chunk
        timings = final.get("timings", {})
        assert isinstance(timings, dict)
        return Completion(
            started,
            times[0],
            times[-1],
            int(timings.get("predicted_n", 0)),
            int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0)),
            tuple(times),
        )

    def embed(self, documents: list[str]) -> int:
        response = self.client.post("/v1/embeddings", json={"input": documents})
        response.raise_for_status()
        return len(response.json()["data"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _serving_process(command: list[str], health_url: str, environment: dict[str, str] | None = None) -> Iterator[None]:
    """Run a server until the block ends; its log goes nowhere, health is polled until it answers."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(health_url).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{command[0]} did not become healthy")
        yield
    finally:
        process.terminate()
        process.wait(60)


@contextmanager
def llama_server(binary: Path, config: ServingConfig, *, embeddings: bool = False) -> Iterator[LlamaServerTarget]:
    port = _free_port()
    command = [
        str(binary),
        "-m",
        str(config.model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-t",
        str(config.threads),
        "-tb",
        str(config.threads),
        "-np",
        str(config.slots),
        "-c",
        str(config.context_size),
        "-b",
        str(config.n_batch),
        "-ub",
        str(config.n_ubatch),
        "-ctk",
        config.cache_type,
        "-ctv",
        config.cache_type,
        "-fa",
        "auto",
        "--no-webui",
        *_KV_LAYOUT_FLAGS[config.kv_layout],
    ]
    if embeddings:
        command += ["--embeddings", "--pooling", "mean", "-ub", str(config.n_batch)]
    with _serving_process(command, f"http://127.0.0.1:{port}/health"):
        yield LlamaServerTarget(f"http://127.0.0.1:{port}")


class PaddlerHttpTarget:
    """paddler's server over HTTP, through its OpenAI-compatible API, as a client meets it."""

    name = "paddler"
    model = "bench"

    def __init__(self, inference_url: str, management_url: str) -> None:
        self.client = httpx.Client(base_url=inference_url, timeout=600.0)
        self.management_url = management_url

    def complete(self, prompt: str, max_tokens: int) -> Completion:
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "stream": True,
            "temperature": 0.0,
            "ignore_eos": True,
            "stream_options": {"include_usage": True},
        }
        started = time.perf_counter()
        times: list[float] = []
        usage: dict[str, int] = {}
        with self.client.stream("POST", "/v1/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[len("data: ") :])
                if chunk.get("choices") and chunk["choices"][0].get("text"):
                    times.append(time.perf_counter())
                if chunk.get("usage"):
                    usage = chunk["usage"]
        return Completion(
            started,
            times[0],
            times[-1],
            int(usage.get("completion_tokens", 0)),
            int(usage.get("prompt_tokens", 0)),
            tuple(times),
        )

    def embed(self, documents: list[str]) -> int:
        response = self.client.post("/v1/embeddings", json={"model": self.model, "input": documents})
        response.raise_for_status()
        return len(response.json()["data"])

    def engine_seconds(self) -> tuple[float, float]:
        """(step seconds, decode seconds) from the server's Prometheus counters."""
        values = {}
        for line in httpx.get(self.management_url + "/metrics").text.splitlines():
            name, _, value = line.partition(" ")
            if name in ("paddler_engine_step_seconds_total", "paddler_engine_decode_seconds_total"):
                values[name] = float(value)
        return values["paddler_engine_step_seconds_total"], values["paddler_engine_decode_seconds_total"]


@contextmanager
def paddler_server(
    config: ServingConfig,
    *,
    embeddings: bool = False,
    python: str = sys.executable,
    options: tuple[str, ...] = (),
    gunicorn: bool = False,
) -> Iterator[PaddlerHttpTarget]:
    """`python`: the interpreter whose paddler is served (another checkout's, to compare with it);
    `options`: more serve options (--no-prefix-sharing; --balancer-addr to serve as an agent of a fleet);
    `gunicorn`: serve under gunicorn with the shipped gunicorn.conf.py (production) instead of the
    development server."""
    inference, management = _free_port(), _free_port()
    serve_options = [
        "--model",
        str(config.model_path),
        "--name",
        PaddlerHttpTarget.model,
        "--threads",
        str(config.threads),
        "--slots",
        str(config.slots),
        "--context-size",
        str(config.context_size),
        "--n-batch",
        str(config.n_batch),
        "--n-ubatch",
        str(config.n_batch if embeddings else config.n_ubatch),
        "--cache-type-k",
        config.cache_type,
        "--cache-type-v",
        config.cache_type,
        "--max-buffered-requests",
        "1000",
        "--buffered-request-timeout",
        "600000",
        "--inference-addr",
        f"127.0.0.1:{inference}",
        "--management-addr",
        f"127.0.0.1:{management}",
        *_PADDLER_KV_LAYOUT_FLAGS[config.kv_layout],
        # llama-server's sampling defaults (no penalties), so a temperature-0 request is plain greedy on
        # both sides; paddler's own defaults are Paddler's (repeat 1.1, presence 0.8).
        *("--penalty-repeat", "1", "--penalty-presence", "0", "--penalty-frequency", "0"),
        *options,
    ]
    if embeddings:
        serve_options += ["--enable-embeddings", "--pooling-type", "mean"]
    command = [python, "-m", "paddler.cli", "--log-level", "WARNING", "serve", "--quiet", *serve_options]
    environment = None
    if gunicorn:
        command = [str(Path(python).with_name("gunicorn")), "-c", str(ROOT / "gunicorn.conf.py"), "paddler.wsgi:app"]
        command += ["--log-level", "warning"]
        environment = {**os.environ, "PADDLER_SERVE_ARGS": shlex.join(serve_options)}
    with _serving_process(command, f"http://127.0.0.1:{inference}/ready", environment):
        yield PaddlerHttpTarget(f"http://127.0.0.1:{inference}", f"http://127.0.0.1:{management}")


@contextmanager
def paddler_balancer() -> Iterator[PaddlerHttpTarget]:
    """`paddler balancer` (HAProxy in front of the agents that join it), buffering as paddler_server does;
    the target's management URL is the balancer's, where agents join."""
    inference, management = _free_port(), _free_port()
    command = [
        sys.executable,
        "-m",
        "paddler.cli",
        "--log-level",
        "WARNING",
        "balancer",
        "--inference-addr",
        f"127.0.0.1:{inference}",
        "--management-addr",
        f"127.0.0.1:{management}",
        "--max-buffered-requests",
        "1000",
        "--buffered-request-timeout",
        "600000",
    ]
    with _serving_process(command, f"http://127.0.0.1:{management}/health"):
        yield PaddlerHttpTarget(f"http://127.0.0.1:{inference}", f"http://127.0.0.1:{management}")


@contextmanager
def paddler_engine(config: ServingConfig, *, embeddings: bool = False) -> Iterator[EngineTarget]:
    settings = EngineSettings(
        model_path=config.model_path,
        threads=config.threads,
        slots=config.slots,
        context_size=config.context_size,
        n_batch=config.n_batch,
        n_ubatch=config.n_batch if embeddings else config.n_ubatch,
        k_cache_type=config.cache_type,
        v_cache_type=config.cache_type,
        enable_generation=not embeddings,
        enable_embeddings=embeddings,
        pooling_type="mean",
        max_buffered_requests=1000,
        buffered_request_timeout=600.0,
    )
    if config.kv_layout != "defaults":
        settings = replace(settings, kv_layout=KvLayout(config.kv_layout))
    engine = ContinuousBatchEngine(settings)
    engine.start()
    try:
        yield EngineTarget(engine)
    finally:
        engine.stop()
