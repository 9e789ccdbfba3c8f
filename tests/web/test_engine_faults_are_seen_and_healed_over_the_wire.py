"""A real server with faults injected into its engine: clients see one error line per request that was
running, the next request is served, and the fault shows in /metrics, the agent's issues and the health
checks; faults too often leave the server reporting 503 with the reason instead of hanging."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import websockets.sync.client

from .conftest import ServerFactory, wait_for

LONG = {"raw_prompt": "Once upon a time", "max_tokens": 300}
SHORT = {"raw_prompt": "The capital of France is", "max_tokens": 4}


def _lines(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with httpx.stream("POST", url + "/api/v1/continue_from_raw_prompt", json=body, timeout=60) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


def _payloads(lines: list[dict[str, Any]]) -> list[Any]:
    return [line["Response"]["response"] for line in lines]


def _issues(management_url: str) -> list[Any]:
    issues: list[Any] = httpx.get(management_url + "/api/v1/agents").json()["agents"][0]["issues"]
    return issues


def _metric(management_url: str, name: str) -> float:
    for line in httpx.get(management_url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def test_a_fault_ends_the_running_requests_with_one_error_line_and_the_next_request_is_served(
    server_factory: ServerFactory,
) -> None:
    # The fault comes some 50 steps into the long requests, so both are running then even when the
    # socket's request reaches the engine well after the HTTP one (a loaded host).
    server = server_factory("--slots", "2", "--temperature", "0", environment={"PADDLER_INJECT_FAULTS": "60:raise"})
    reference = _lines(server.inference_url, SHORT)
    results: list[list[dict[str, Any]]] = [[], []]
    http = threading.Thread(target=lambda: results[0].extend(_lines(server.inference_url, LONG)))
    http.start()
    with websockets.sync.client.connect(server.socket_url) as socket:
        socket.send(json.dumps({"Request": {"id": "mine", "request": {"ContinueFromRawPrompt": LONG}}}))
        while True:
            message = json.loads(socket.recv(timeout=60))
            results[1].append(message)
            if "Error" in message or "Done" in json.dumps(message):
                break
    http.join(60)

    for lines in results:
        errors = [line for line in lines if "Error" in line]
        assert len(errors) == 1, lines[-3:]
        assert lines[-1] is errors[0], "the error line is the last one"
        assert errors[0]["Error"]["error"]["code"] == 500
        assert "restarting" in errors[0]["Error"]["error"]["description"]
    assert results[1][-1]["Error"]["request_id"] == "mine"
    assert _payloads(_lines(server.inference_url, SHORT)) == _payloads(reference)
    assert httpx.get(server.inference_url + "/health").status_code == 200
    assert httpx.get(server.inference_url + "/ready").status_code == 200
    assert _metric(server.management_url, "paddler_engine_restarts_total") == 1
    assert any(
        "SlotCannotStart" in issue and "faulted" in issue["SlotCannotStart"]["error"]
        for issue in _issues(server.management_url)
    )


def test_faults_too_often_leave_the_server_answering_503_with_the_reason(server_factory: ServerFactory) -> None:
    server = server_factory("--slots", "1", environment={"PADDLER_INJECT_FAULTS": "2:raise,4:raise,6:raise,8:raise"})
    ends = []
    for _ in range(5):
        response = httpx.post(server.inference_url + "/api/v1/continue_from_raw_prompt", json=LONG, timeout=60)
        ends.append(response.status_code if response.status_code != 200 else json.loads(response.text.splitlines()[-1]))
    assert [end["Error"]["error"]["code"] for end in ends[:4] if isinstance(end, dict)] == [500] * 4
    assert ends[4] == 503
    assert wait_for(lambda: httpx.get(server.inference_url + "/health").status_code == 503)
    ready = httpx.get(server.inference_url + "/ready")
    assert (ready.status_code, ready.json()["state"]) == (503, "failed")
    [issue] = _issues(server.management_url)
    assert "will not restart" in issue["SlotCannotStart"]["error"]
