"""The wire details the client hides, checked with raw HTTP, raw sockets and the websockets package."""

from __future__ import annotations

import json
import signal
import socket
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import RunningServer, ServerFactory, wait_for

SEED_CONVERSATION = {
    "add_generation_prompt": True,
    "enable_thinking": True,
    "max_tokens": 40,
    "conversation_history": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm fine, thank you! How can I assist you today?"},
    ],
}
SEED_EMBEDDINGS = {
    "input_batch": [{"id": "1", "content": "This is how we should keep our company cats happy"}],
    "normalization_method": "L2",
}
CONVERSATION = "/api/v1/continue_from_conversation_history"
RAW_PROMPT = "/api/v1/continue_from_raw_prompt"
EMBEDDINGS = "/api/v1/generate_embedding_batch"
# Generation that cannot end by itself (no end-of-generation is allowed), so only a cancel stops it.
ENDLESS = {"type": "gbnf", "grammar": 'root ::= "ab " root', "root": "root"}


def _endless(prompt: str) -> dict[str, Any]:
    return {"raw_prompt": prompt, "max_tokens": 3000, "grammar": ENDLESS}


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def _response(line: dict[str, Any]) -> Any:
    return line["Response"]["response"]


def test_seed_conversation_payload_streams_tokens_then_done(server: RunningServer) -> None:
    response = httpx.post(server.inference_url + CONVERSATION, json=SEED_CONVERSATION, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-cache"
    lines = _lines(response)
    assert len({line["Response"]["request_id"] for line in lines}) == 1
    assert all(line["Response"]["generated_by"] == "agent-1" for line in lines)
    tokens = [_response(line)["GeneratedToken"]["UndeterminableToken"] for line in lines[:-1]]
    assert "".join(tokens).strip()
    usage = _response(lines[-1])["GeneratedToken"]["Done"]["usage"]
    assert set(usage) == {
        "prompt_tokens",
        "cached_prompt_tokens",
        "input_image_tokens",
        "input_audio_tokens",
        "content_tokens",
        "reasoning_tokens",
        "tool_call_tokens",
        "undeterminable_tokens",
    }
    assert usage["undeterminable_tokens"] >= len(tokens)


def test_seed_embedding_payload_streams_one_vector_then_done(server: RunningServer) -> None:
    response = httpx.post(server.inference_url + EMBEDDINGS, json=SEED_EMBEDDINGS, timeout=60)
    assert response.status_code == 200
    first, last = _lines(response)
    embedding = _response(first)["Embedding"]["Embedding"]
    assert embedding["source_document_id"] == "1"
    assert embedding["normalization_method"] == "L2"
    assert embedding["pooling_type"] == "Last"
    assert abs(sum(value * value for value in embedding["embedding"]) - 1.0) < 1e-3
    assert _response(last) == {"Embedding": "Done"}
    assert last["Response"]["generated_by"] is None
    assert last["Response"]["request_id"] != first["Response"]["request_id"]


def test_empty_embedding_batch_is_only_done(server: RunningServer) -> None:
    response = httpx.post(server.inference_url + EMBEDDINGS, json={"input_batch": [], "normalization_method": "None"})
    assert [_response(line) for line in _lines(response)] == [{"Embedding": "Done"}]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**SEED_CONVERSATION, "surprise": 1}, "surprise"),
        ({key: value for key, value in SEED_CONVERSATION.items() if key != "max_tokens"}, "max_tokens"),
        ({**SEED_CONVERSATION, "max_tokens": "5"}, "max_tokens"),
        ({**SEED_CONVERSATION, "max_tokens": 2**40}, "max_tokens"),
        ({**SEED_CONVERSATION, "conversation_history": [{"role": "user", "content": None}]}, "content"),
    ],
)
def test_malformed_requests_get_400_with_the_reason(server: RunningServer, body: dict[str, Any], fragment: str) -> None:
    response = httpx.post(server.inference_url + CONVERSATION, json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert fragment in response.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"input_batch": [{"id": "a", "content": "x"}, {"id": "a", "content": "y"}], "normalization_method": "L2"},
            "appears more than once",
        ),
        (
            {"input_batch": [{"id": "a", "content": "x"}], "normalization_method": {"RmsNorm": {"epsilon": 0}}},
            "epsilon",
        ),
        (
            {"input_batch": [{"id": "a", "content": "x"}], "normalization_method": {"RmsNorm": {"epsilon": -1}}},
            "epsilon",
        ),
    ],
)
def test_embedding_batches_with_shared_ids_or_bad_epsilon_are_400(
    server: RunningServer, body: dict[str, Any], fragment: str
) -> None:
    response = httpx.post(server.inference_url + EMBEDDINGS, json=body)
    assert response.status_code == 400
    assert fragment in response.text


def test_a_key_given_twice_is_400_not_last_wins(server: RunningServer) -> None:
    body = b'{"raw_prompt": "Hi", "max_tokens": 2, "max_tokens": 5}'
    response = httpx.post(server.inference_url + RAW_PROMPT, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "duplicate field `max_tokens`" in response.text


def test_invalid_json_wrong_content_type_and_oversized_bodies(server: RunningServer) -> None:
    url = server.inference_url + RAW_PROMPT
    assert httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert (
        httpx.post(
            url, content=b'{"raw_prompt":"x","max_tokens":1}', headers={"Content-Type": "text/plain"}
        ).status_code
        == 400
    )
    huge = json.dumps({"raw_prompt": "x" * (3 * 1024 * 1024), "max_tokens": 1})
    assert httpx.post(url, content=huge, headers={"Content-Type": "application/json"}).status_code == 413
    assert httpx.get(server.inference_url + "/no/such/route").status_code == 404


def test_request_larger_than_a_slot_is_refused_before_streaming(server: RunningServer) -> None:
    response = httpx.post(server.inference_url + RAW_PROMPT, json={"raw_prompt": "Hi", "max_tokens": 100_000})
    assert response.status_code == 400
    assert "max_tokens 100000" in response.text


def test_tool_schema_naming_an_absent_required_field_is_400(server: RunningServer) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["city"]},
        },
    }
    response = httpx.post(server.inference_url + CONVERSATION, json={**SEED_CONVERSATION, "tools": [tool]})
    assert response.status_code == 400
    assert response.text == "Invalid request parameters: Required field 'city' not found in properties"


def test_grammar_with_thinking_is_refused_in_band(server: RunningServer) -> None:
    body = {**SEED_CONVERSATION, "grammar": {"type": "gbnf", "grammar": 'root ::= "yes"', "root": "root"}}
    lines = _lines(httpx.post(server.inference_url + CONVERSATION, json=body))
    assert [_response(line) for line in lines] == [
        {
            "GeneratedToken": {
                "GrammarIncompatibleWithThinking": "Grammar constraints are incompatible with thinking mode"
            }
        }
    ]


def test_gbnf_grammar_constrains_a_raw_prompt(server: RunningServer) -> None:
    body = {
        "raw_prompt": "Is the sky blue? Answer:",
        "max_tokens": 10,
        "grammar": {"type": "gbnf", "grammar": 'root ::= " yes" | " no"', "root": "root"},
    }
    lines = _lines(httpx.post(server.inference_url + RAW_PROMPT, json=body, timeout=60))
    text = "".join(_response(line)["GeneratedToken"].get("UndeterminableToken", "") for line in lines[:-1])
    assert text in (" yes", " no")
    assert "Done" in _response(lines[-1])["GeneratedToken"]


def test_bad_grammar_ends_with_grammar_initialization_failed(server: RunningServer) -> None:
    body = {"raw_prompt": "x", "max_tokens": 4, "grammar": {"type": "gbnf", "grammar": "root ::= (", "root": "root"}}
    (line,) = _lines(httpx.post(server.inference_url + RAW_PROMPT, json=body))
    assert "grammar" in _response(line)["GeneratedToken"]["GrammarInitializationFailed"]


def _raw_post(server: RunningServer, path: str, body: dict[str, Any]) -> socket.socket:
    host, port = server.inference_url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    connection = socket.create_connection((host, int(port)))
    connection.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return connection


def test_a_client_that_disconnects_mid_stream_frees_its_slot(server: RunningServer) -> None:
    connection = _raw_post(server, RAW_PROMPT, _endless("Write a long essay about the sea."))
    assert connection.recv(4096).startswith(b"HTTP/1.1 200")
    assert wait_for(lambda: server.slots_processing() == 1)
    connection.close()
    assert wait_for(lambda: server.slots_processing() == 0, timeout=3.0)


def test_a_half_closed_client_frees_its_slot(server: RunningServer) -> None:
    connection = _raw_post(server, RAW_PROMPT, _endless("Write a long essay about rivers."))
    assert wait_for(lambda: server.slots_processing() == 1)
    connection.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: server.slots_processing() == 0, timeout=3.0)
    connection.close()


def _socket_request(request_id: str, prompt: str, max_tokens: int) -> str:
    """A raw-prompt request; 3000 tokens or more means one that only a cancel can stop."""
    body = _endless(prompt) if max_tokens >= 3000 else {"raw_prompt": prompt, "max_tokens": max_tokens}
    return json.dumps({"Request": {"id": request_id, "request": {"ContinueFromRawPrompt": body}}})


def _receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=30))
    return message


def _drain(ws: Any) -> None:
    """Read what has arrived, as a live client does; one that stops reading stops answering pings."""
    try:
        while True:
            ws.recv(timeout=0.01)
    except TimeoutError:
        pass


def test_socket_refuses_a_duplicate_in_flight_id(server: RunningServer) -> None:
    with connect(server.socket_url) as ws:
        ws.send(_socket_request("dup", "Write a long story.", 3000))
        ws.send(_socket_request("dup", "Again", 4))
        seen_error = None
        while seen_error is None:
            message = _receive(ws)
            if "Error" in message:
                seen_error = message
        assert seen_error == {
            "Error": {
                "request_id": "dup",
                "error": {"code": 400, "description": 'Request id "dup" is already in flight on this connection'},
            }
        }
        ws.send(json.dumps({"Notification": {"StopRespondingTo": "dup"}}))
    assert wait_for(lambda: server.slots_processing() == 0, timeout=3.0)


def test_malformed_frames_get_an_error_and_the_socket_keeps_working(server: RunningServer) -> None:
    with connect(server.socket_url) as ws:
        ws.send("{definitely not json")
        assert _receive(ws)["Error"]["error"]["code"] == 400
        ws.send("[" * 100_000)
        assert _receive(ws)["Error"]["error"]["code"] == 400
        ws.send('{"Request": {"id": "a", "id": "b", "request": {}}}')
        assert "appears twice" in _receive(ws)["Error"]["error"]["description"]
        ws.send(json.dumps({"Request": {"id": "x", "request": {"Unknown": {}}}}))
        error = _receive(ws)["Error"]
        assert (error["request_id"], error["error"]["code"]) == ("x", 400)
        ws.send(_socket_request("ok", "Hello", 3))
        messages = [_receive(ws) for _ in range(4)]
        assert all(message["Response"]["request_id"] == "ok" for message in messages)
        assert "Done" in messages[-1]["Response"]["response"]["GeneratedToken"]


def test_stop_responding_cancels_one_request_and_keeps_its_sibling(server: RunningServer) -> None:
    with connect(server.socket_url) as ws:
        ws.send(_socket_request("long", "Write a very long essay about mountains.", 3000))
        ws.send(_socket_request("short", "Count to three:", 12))
        assert _receive(ws)["Response"]["request_id"] in ("long", "short")
        ws.send(json.dumps({"Notification": {"StopRespondingTo": "long"}}))
        short_done = False
        deadline = time.monotonic() + 30
        while not short_done and time.monotonic() < deadline:
            message = _receive(ws)["Response"]
            short_done = message["request_id"] == "short" and "Done" in message["response"]["GeneratedToken"]
        assert short_done
        assert wait_for(lambda: server.slots_processing() == 0, timeout=3.0)
        late = []
        try:
            while True:
                late.append(json.loads(ws.recv(timeout=0.5)))
        except TimeoutError:
            pass
        assert all(message["Response"]["request_id"] != "long" for message in late[1:])


def test_closing_the_socket_cancels_its_requests(server: RunningServer) -> None:
    with connect(server.socket_url) as ws:
        ws.send(_socket_request("a", "Write a long essay.", 3000))
        ws.send(_socket_request("b", "Write another long essay.", 3000))
        assert "Response" in _receive(ws)

        def both_running() -> bool:
            _drain(ws)
            return server.slots_processing() == 2

        assert wait_for(both_running), server.slots_processing()
    assert wait_for(lambda: server.slots_processing() == 0, timeout=3.0)


def test_overflow_and_timeout_are_in_band_errors(server_factory: ServerFactory) -> None:
    strict = server_factory("--slots", "1", "--max-buffered-requests", "0")
    with httpx.stream(
        "POST",
        strict.inference_url + RAW_PROMPT,
        json=_endless("Write a long essay."),
        timeout=60,
    ) as running:
        # Keep the line iterator alive: dropping it makes httpx close the connection.
        lines = running.iter_lines()
        next(lines)
        response = httpx.post(strict.inference_url + RAW_PROMPT, json={"raw_prompt": "Hi", "max_tokens": 2})
        assert response.status_code == 200
        (line,) = _lines(response)
        assert line["Error"]["error"] == {"code": 503, "description": "Buffered requests overflow"}


def test_buffered_request_times_out_with_504(server_factory: ServerFactory) -> None:
    patient = server_factory("--slots", "1", "--buffered-request-timeout", "300")
    with httpx.stream(
        "POST",
        patient.inference_url + RAW_PROMPT,
        json=_endless("Write a long essay."),
        timeout=60,
    ) as running:
        # Keep the line iterator alive: dropping it makes httpx close the connection.
        lines = running.iter_lines()
        next(lines)
        (line,) = _lines(httpx.post(patient.inference_url + RAW_PROMPT, json={"raw_prompt": "Hi", "max_tokens": 2}))
        assert line["Error"]["error"] == {"code": 504, "description": "Waiting for available slot timed out"}
        assert patient.buffered() == 0


def test_embeddings_disabled_is_501_and_generation_disabled_socket(server_factory: ServerFactory) -> None:
    generation_only = server_factory("--slots", "1")
    response = httpx.post(generation_only.inference_url + EMBEDDINGS, json=SEED_EMBEDDINGS)
    assert response.status_code == 501
    assert response.text == "Embedding generation is not enabled in the inference parameters"


def test_metrics_are_prometheus_text(server: RunningServer) -> None:
    response = httpx.get(server.management_url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    for gauge in (
        "paddler_slots_processing",
        "paddler_slots_total",
        "paddler_requests_buffered",
        "paddler_generated_tokens_total",
        "paddler_prefix_cache_hits_total",
        "paddler_shared_prompt_tokens_total",
        "paddler_time_to_first_token_seconds_count",
        'paddler_engine_step_duration_seconds_bucket{le="+Inf"}',
    ):
        assert f"\n{gauge} " in "\n" + response.text


def _read_until_closed(ws: Any, messages: list[dict[str, Any]]) -> None:
    while True:
        messages.append(json.loads(ws.recv(timeout=15)))


def test_shutdown_drains_and_closes_sockets_with_1001(server_factory: ServerFactory) -> None:
    draining = server_factory("--slots", "1", "--drain-timeout", "1")
    with connect(draining.socket_url) as ws:
        ws.send(_socket_request("endless", "Write forever.", 3000))
        assert "Response" in _receive(ws)
        draining.process.send_signal(signal.SIGTERM)
        messages: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            _read_until_closed(ws, messages)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
    assert messages[-1] == {
        "Error": {"request_id": "endless", "error": {"code": 503, "description": "balancer is shutting down"}}
    }
    assert draining.process.wait(timeout=15) == 0


def test_a_half_closed_client_leaves_the_buffer(server_factory: ServerFactory) -> None:
    single = server_factory("--slots", "1", "--buffered-request-timeout", "30000")
    running = _raw_post(single, RAW_PROMPT, _endless("Write forever."))
    assert wait_for(lambda: single.slots_processing() == 1)
    waiting = _raw_post(single, RAW_PROMPT, {"raw_prompt": "Hi", "max_tokens": 2})
    assert wait_for(lambda: single.buffered() == 1)
    waiting.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: single.buffered() == 0, timeout=3.0)
    assert single.slots_processing() == 1, "the running request is untouched"
    running.close()
    waiting.close()
    assert wait_for(lambda: single.slots_processing() == 0, timeout=3.0)


def test_json_schema_grammar_yields_valid_json_over_http(server: RunningServer) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 30}}, "required": ["answer"]}
    body = {
        "raw_prompt": "Reply in JSON: what is the capital of France?",
        "max_tokens": 60,
        "grammar": {"type": "json_schema", "schema": json.dumps(schema)},
    }
    lines = _lines(httpx.post(server.inference_url + RAW_PROMPT, json=body, timeout=60))
    text = "".join(_response(line)["GeneratedToken"].get("UndeterminableToken", "") for line in lines[:-1])
    assert "Done" in _response(lines[-1])["GeneratedToken"]
    assert isinstance(json.loads(text)["answer"], str)
    bad = {**body, "grammar": {"type": "json_schema", "schema": "{not json"}}
    (line,) = _lines(httpx.post(server.inference_url + RAW_PROMPT, json=bad))
    assert _response(line)["GeneratedToken"]["GrammarSyntaxError"].startswith("Failed to create grammar sampler")


def test_one_socket_may_hold_at_most_64_requests(server_factory: ServerFactory) -> None:
    crowded = server_factory("--slots", "1", "--max-buffered-requests", "100", "--buffered-request-timeout", "60000")
    with connect(crowded.socket_url) as ws:
        for index in range(64):
            ws.send(_socket_request(f"r{index}", "Write forever.", 3000))
        assert wait_for(lambda: crowded.buffered() == 63)
        ws.send(_socket_request("one-too-many", "Hi", 2))
        refused = None
        while refused is None:
            message = _receive(ws)
            if "Error" in message:
                refused = message["Error"]
        assert refused["request_id"] == "one-too-many"
        assert refused["error"]["code"] == 429
    assert wait_for(lambda: crowded.buffered() == 0 and crowded.slots_processing() == 0, timeout=5.0)


def test_an_invalid_tool_schema_with_parsing_is_tool_schema_invalid(server: RunningServer) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"location": {"type": 123}}},
        },
    }
    body = {**SEED_CONVERSATION, "enable_thinking": False, "tools": [tool], "parse_tool_calls": True}
    (line,) = _lines(httpx.post(server.inference_url + CONVERSATION, json=body))
    message = _response(line)["GeneratedToken"]["ToolSchemaInvalid"]
    assert message.startswith('tool "get_weather" parameters are not a valid JSON Schema')
    without_parsing = {**body, "parse_tool_calls": False, "max_tokens": 2}
    lines = _lines(httpx.post(server.inference_url + CONVERSATION, json=without_parsing, timeout=60))
    assert "Done" in _response(lines[-1])["GeneratedToken"], "the schema is only checked when parsing"


def test_content_given_as_text_parts_renders_like_a_string(server: RunningServer) -> None:
    def text_for(content: object) -> str:
        body = {
            "add_generation_prompt": True,
            "enable_thinking": False,
            "max_tokens": 12,
            "conversation_history": [{"role": "user", "content": content}],
        }
        lines = _lines(httpx.post(server.inference_url + CONVERSATION, json=body, timeout=60))
        return "".join(_response(line)["GeneratedToken"].get("UndeterminableToken", "") for line in lines[:-1])

    as_parts = text_for([{"type": "text", "text": "What is the capital"}, {"type": "text", "text": " of France?"}])
    assert as_parts == text_for("What is the capital of France?")
    assert as_parts.strip()
