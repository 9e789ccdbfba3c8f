"""The management routes the admin panel draws from: what each slot is doing (GET /api/v1/slots) and the
last minutes of metrics (GET /api/v1/metrics/history), against a real server; and the arithmetic behind
them."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from paddler.startup.serve_options import admin_panel_origins
from paddler.web.shared.metrics_history import histogram_quantile

from .conftest import RunningServer, ServerFactory, stream_completion_until, wait_for

PROMPT = "Write a long story about a lighthouse keeper and the sea."


def _slots(server: RunningServer) -> list[dict[str, Any]]:
    slots: list[dict[str, Any]] = httpx.get(f"{server.management_url}/api/v1/slots").json()["slots"]
    return slots


def _busy(server: RunningServer) -> dict[str, Any] | None:
    return next((slot for slot in _slots(server) if slot["phase"] == "generating"), None)


def test_slots_show_a_generation_then_its_cached_prefix_and_the_history_charts_it(
    server_factory: ServerFactory,
) -> None:
    server = server_factory("--slots", "2")
    assert [slot["phase"] for slot in _slots(server)] == ["idle", "idle"]
    for round_number in range(2):
        leave = threading.Event()
        client = stream_completion_until(server.inference_url, leave, PROMPT)
        assert wait_for(lambda: (_busy(server) or {}).get("generated_tokens", 0) >= 3, timeout=30)
        busy = _busy(server)
        assert busy is not None
        assert busy["prompt_processed"] == busy["prompt_tokens"] > 5
        # The second time, the same prompt is read from the cache the first one left.
        assert (busy["cached_prefix"] > 0) == (round_number == 1)
        prompt_tokens = busy["prompt_tokens"]
        leave.set()
        client.join()
        assert wait_for(lambda: all(slot["phase"] == "idle" for slot in _slots(server)))
    assert max(slot["cached_prefix"] for slot in _slots(server)) > prompt_tokens

    def charted() -> list[dict[str, Any]]:
        history = httpx.get(f"{server.management_url}/api/v1/metrics/history").json()
        assert history["interval_seconds"] == 1.0
        samples: list[dict[str, Any]] = history["samples"]
        return samples

    # A sample is taken each second: the second request's cache hit shows in the next one.
    assert wait_for(lambda: any(0 < (sample["cache_hit_rate"] or 0) <= 1 for sample in charted()), timeout=5)
    samples = charted()
    assert any((sample["tokens_per_second"] or 0) > 0 for sample in samples)
    assert any(sample["ttft_p50"] is not None for sample in samples)
    assert all(sample["slots_total"] == 2 for sample in samples)
    times = [sample["time"] for sample in samples]
    assert times == sorted(times)


def test_the_slots_stream_starts_with_a_snapshot(server: RunningServer) -> None:
    with httpx.stream("GET", f"{server.management_url}/api/v1/slots/stream", timeout=10) as response:
        first = next(line for line in response.iter_lines() if line.startswith("data:"))
    assert len(json.loads(first.removeprefix("data:"))["slots"]) == 4


def test_histogram_quantiles_interpolate_within_their_bucket() -> None:
    bounds = (0.1, 0.5, 1.0)
    assert histogram_quantile(bounds, [0, 0, 0, 0], 0.5) is None
    assert histogram_quantile(bounds, [4, 0, 0, 0], 0.5) == 0.05
    assert histogram_quantile(bounds, [0, 2, 2, 0], 0.5) == 0.5
    assert histogram_quantile(bounds, [0, 0, 0, 3], 0.95) == 1.0  # +Inf reads as the last bound


def test_the_panel_origin_follows_its_address() -> None:
    assert admin_panel_origins(None) == ()
    loopback = admin_panel_origins("127.0.0.1:8062")
    assert set(loopback) == {
        f"{scheme}://{name}:8062" for scheme in ("http", "https") for name in ("127.0.0.1", "localhost")
    }
    assert set(admin_panel_origins("0.0.0.0:9000")) == set(admin_panel_origins("127.0.0.1:9000"))
    assert admin_panel_origins("panel.example:80") == ("http://panel.example:80", "https://panel.example:80")
    assert "http://[::1]:8062" in admin_panel_origins("[::1]:8062")
