"""A property-based protocol test: WebSockets and HTTP streams interleave on one real server.

Hypothesis drives up to three WebSockets and any number of HTTP streams against one `paddler serve`
(4 slots, a buffer of 2): requests on both transports and both generation routes, ids reused within and
across sockets, a second request under an id still in flight, StopRespondingTo, normal and abrupt
closes, readers that pause, streams abandoned midway and bursts that fill the buffer. After every
example:
- each request that was neither stopped nor abandoned ended exactly once (Done, or an Error envelope:
  a buffer overflow or timeout, or the 400 of a duplicate id), and nothing arrived after its end;
- each line reached the request it belongs to, carrying that request's own tokens: raw prompts count
  upwards, so their greedy continuation is known (taken once, alone, up front); other requests are held
  by a grammar to a code word of their own; a Done carries exactly max_tokens tokens;
- the slot and buffer gauges are back to 0, the engine is ready and can fill every slot and the buffer.
A failed example leaves the server suspect, so the next example starts on a fresh one: shrinking then
replays each candidate on a clean server.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .conftest import RunningServer, start_server, stop_server, wait_for

SLOTS = 4
BUFFER = 2
# One llama.cpp thread: the batches here are tiny, and two threads that wait for each other at every
# barrier stall for seconds whenever the machine is busy with anything else.
SERVER_OPTIONS = (
    *("--slots", str(SLOTS), "--max-buffered-requests", str(BUFFER)),
    *("--temperature", "0", "--threads", "1"),
)
RAW_PROMPT = "/api/v1/continue_from_raw_prompt"
CONVERSATION = "/api/v1/continue_from_conversation_history"
EXAMPLES = int(os.environ.get("PADDLER_PROTOCOL_EXAMPLES", "200"))
MAX_SOCKETS = 3
# Few ids, so that sockets share them often.
ID_POOL = ("1", "2")
MAX_TOKENS = 8
ENDLESS_MAX_TOKENS = 3000
# greedy: a raw counting prompt; forced: a raw prompt held to a code word by a grammar; conversation:
# the same over the conversation route; endless: a forced raw prompt that only a stop or a hang-up ends.
KINDS = ("greedy", "forced", "conversation", "endless")
# Counting prompts: a greedy continuation different for each prompt, and near certain: on the default
# model each of the first 8 greedy tokens leads the runner-up by 2 logits or more, far above the noise
# of a batch made of other requests.
COUNTING_STARTS = (25, 47, 56, 73, 84, 102, 127, 134, 149, 157, 166, 176, 183, 210, 245, 263)
IN_FLIGHT = "is already in flight on this connection"
LEGITIMATE_REFUSALS = {(503, "Buffered requests overflow"), (504, "Waiting for available slot timed out")}
# How long a step waits for the server to hold a request it sent.
ANSWER_SECONDS = 2.0
# How often a waiting step looks at the gauges.
POLL_SECONDS = 0.05
# How long a client with nothing left to read may wait for lines still on their way.
SILENCE_SECONDS = 2.0
END_DEADLINE_SECONDS = 20.0
GAUGE_SECONDS = 5.0
SLOW_READ_SECONDS = 0.05
# A paused reader reads again by itself after this long: well before the server's keep-alive ping would
# go unanswered. Its small receive buffer makes it push back on the server soon.
PAUSE_SECONDS = 3.0
PAUSED_READER_RECEIVE_BUFFER = 4096


def _counting_prompt(start: int) -> str:
    return "".join(f"{number}, " for number in range(start, start + 8)).rstrip()


def _forcing_grammar(word: str) -> dict[str, str]:
    return {"type": "gbnf", "grammar": f'root ::= "{word} " root', "root": "root"}


@dataclass(frozen=True)
class Greedy:
    """A raw counting prompt: its tokens are the start of its greedy continuation."""

    prompt: str
    continuation: tuple[str, ...]

    def matches(self, tokens: list[str]) -> bool:
        return tuple(tokens) == self.continuation[: len(tokens)]


@dataclass(frozen=True)
class Forced:
    """A request held by a grammar to repeating its own code word."""

    word: str

    def matches(self, tokens: list[str]) -> bool:
        text = "".join(tokens)
        return (f"{self.word} " * (len(text) // (len(self.word) + 1) + 1)).startswith(text)


Expected = Greedy | Forced


def _line_kind(line: dict[str, Any]) -> tuple[str, str | None, Any]:
    """("token", request_id, text), ("end", request_id, line) or ("other", None, line)."""
    if "Error" in line:
        return "end", line["Error"]["request_id"], line
    if "Response" not in line:
        return "other", None, line
    response = line["Response"]
    (kind, value), *_ = response["response"]["GeneratedToken"].items()
    if kind.endswith("Token") and isinstance(value, str):
        return "token", response["request_id"], value
    return "end", response["request_id"], line


def _refusal(line: dict[str, Any]) -> tuple[int, str] | None:
    if "Error" not in line:
        return None
    error = line["Error"]["error"]
    return int(error["code"]), str(error["description"])


@dataclass(eq=False)
class Call:
    """One request as its client saw it."""

    label: str
    max_tokens: int
    expected: Expected
    endless: bool = False
    duplicate: bool = False
    # Stopped, abandoned or on a closed socket: its end may never come.
    end_optional: bool = False
    tokens: list[str] = field(default_factory=list)
    end: dict[str, Any] | None = None
    late: list[dict[str, Any]] = field(default_factory=list)
    request_ids: set[str | None] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.end is not None

    def receive(self, line: dict[str, Any]) -> None:
        kind, request_id, value = _line_kind(line)
        self.request_ids.add(request_id)
        if self.end is not None:
            self.late.append(line)
        elif kind == "token":
            self.tokens.append(value)
        else:
            self.end = line

    def misdelivery(self) -> str | None:
        """What is wrong with what arrived so far (checked after every step)."""
        if self.failures:
            return f"{self.label}: {self.failures}"
        if self.late:
            return f"{self.label}: lines after its end: {self.late[:3]}"
        if len(self.request_ids) > 1:
            return f"{self.label}: lines of several request ids {self.request_ids}"
        if len(self.tokens) > self.max_tokens:
            return f"{self.label}: {len(self.tokens)} tokens for max_tokens {self.max_tokens}"
        if not self.expected.matches(self.tokens):
            return f"{self.label}: tokens {self.tokens} are not those of {self.expected}"
        return None

    def outcome(self) -> tuple[str, str | None]:
        """(outcome for the statistics, what is wrong with how it ended, if anything)."""
        if self.end is None:
            return "no end", None if self.end_optional else f"{self.label}: never ended ({len(self.tokens)} tokens)"
        wrong = f"{self.label}: ended with {self.end} after {len(self.tokens)} tokens"
        refusal = _refusal(self.end)
        if self.duplicate:
            refused = refusal is not None and refusal[0] == 400 and IN_FLIGHT in refusal[1]
            return "duplicate refused", None if refused else wrong
        if refusal is not None:
            legitimate = refusal in LEGITIMATE_REFUSALS and not self.tokens
            return f"refused {refusal[0]}", None if legitimate else wrong
        if "Done" not in self.end["Response"]["response"]["GeneratedToken"]:
            return "error", wrong
        if self.endless or len(self.tokens) != self.max_tokens:
            return "done", f"{wrong}; max_tokens {self.max_tokens}"
        return "done", None


class SocketClient:
    """One WebSocket, read only when the machine pumps it (never while paused)."""

    def __init__(self, server: RunningServer, name: str) -> None:
        self.name = name
        host, port = server.inference_url.removeprefix("http://").split(":")
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PAUSED_READER_RECEIVE_BUFFER)
        raw.connect((host, int(port)))
        self.ws: ClientConnection = connect(server.socket_url, sock=raw, max_queue=1, close_timeout=2)
        self.calls: dict[str, list[Call]] = {}
        self.retired: set[str] = set()
        self.strays: list[dict[str, Any]] = []
        self.paused_at: float | None = None
        self.open = True
        self.lost: str | None = None

    def __repr__(self) -> str:
        return self.name

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def pause_or_resume(self) -> None:
        self.paused_at = None if self.paused else time.monotonic()

    def _running(self, request_id: str) -> list[Call]:
        return [call for call in self.calls.get(request_id, []) if not call.duplicate and not call.ended]

    def _unended(self, request_id: str) -> list[Call]:
        """Every call of this id that may still get lines. A duplicate is one of them until its end: when
        the request it repeated ended (refused, say) before the server read it, it runs as a request of
        its own."""
        return [call for call in self.calls.get(request_id, []) if not call.ended]

    def is_free(self, request_id: str) -> bool:
        return request_id not in self.retired and not self._unended(request_id)

    def endless_ids(self) -> list[str]:
        return [
            request_id
            for request_id in self.calls
            if request_id not in self.retired and any(call.endless for call in self._running(request_id))
        ]

    def send(self, request_id: str, call: Call, request: dict[str, Any]) -> None:
        self.calls.setdefault(request_id, []).append(call)
        self.ws.send(json.dumps({"Request": {"id": request_id, "request": request}}))

    def stop(self, request_id: str) -> None:
        stopped = self._unended(request_id)
        for call in stopped:
            call.end_optional = True
        if stopped:
            # Lines sent before the server saw the stop may still come: the id is not reused here.
            self.retired.add(request_id)
        self.ws.send(json.dumps({"Notification": {"StopRespondingTo": request_id}}))

    def close(self, abrupt: bool) -> None:
        self.open = False
        for calls in self.calls.values():
            for call in calls:
                call.end_optional = True
        if abrupt:
            # The TCP connection ends without a close frame.
            self.ws.socket.shutdown(socket.SHUT_RDWR)
        self.ws.close()

    def pump(self) -> bool:
        """Route every line that has arrived; True when there was one."""
        if self.paused_at is not None and time.monotonic() - self.paused_at > PAUSE_SECONDS:
            self.paused_at = None
        if not self.open or self.paused:
            return False
        received = False
        try:
            while True:
                self._route(json.loads(self.ws.recv(timeout=0)))
                received = True
        except TimeoutError:
            pass
        except ConnectionClosed as closed:
            self.open = False
            self.lost = f"{self.name}: the server closed the socket: {closed!r}"
        return received

    def _route(self, line: dict[str, Any]) -> None:
        kind, request_id, _ = _line_kind(line)
        if kind == "other":
            return
        calls = self.calls.get(request_id or "", [])
        refusal = _refusal(line)
        if refusal is not None and IN_FLIGHT in refusal[1]:
            candidates = [call for call in calls if call.duplicate and not call.ended]
        else:
            candidates = [call for call in calls if not call.duplicate and not call.ended]
            if not candidates:
                # A duplicate sent just as the request it repeated ended was none to the server: it runs
                # as a request of its own, and its tokens must still be its own.
                candidates = [call for call in calls if call.duplicate and not call.ended][:1]
                for call in candidates:
                    call.duplicate = False
            # With every call of this id ended, a line is a late one: it goes to the last of them.
            candidates = candidates or [call for call in calls if not call.duplicate][-1:]
        if not candidates:
            self.strays.append(line)
            return
        candidates[0].receive(line)


class HttpClient(threading.Thread):
    """One streaming HTTP request; it may read slowly, or hang up after a few lines."""

    def __init__(
        self, http: httpx.Client, url: str, body: dict[str, Any], call: Call, *, keep_lines: int | None, slow: bool
    ) -> None:
        super().__init__(name=f"http-{call.label}", daemon=True)
        self.http, self.url, self.body, self.call = http, url, body, call
        self.keep_lines, self.slow = keep_lines, slow
        self.last_line_at = time.monotonic()

    def run(self) -> None:
        try:
            with self.http.stream("POST", self.url, json=self.body) as response:
                if response.status_code != 200:
                    self.call.failures.append(f"status {response.status_code}: {response.read()!r}")
                    return
                read = 0
                for text in response.iter_lines():
                    if not text:
                        continue
                    self.call.receive(json.loads(text))
                    self.last_line_at = time.monotonic()
                    read += 1
                    if self.keep_lines is not None and read >= self.keep_lines:
                        return  # leaving the block hangs up: the connection is not reused
                    if self.slow:
                        time.sleep(SLOW_READ_SECONDS)
        except Exception as error:  # the invariants report it with the call
            self.call.failures.append(repr(error))


class ServerUnderTest:
    """The one server of the run, replaced after an example that failed (its state is suspect), and
    one HTTP client for everything the test asks it."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self.http = httpx.Client(timeout=30)
        self.server = start_server(model_path, *SERVER_OPTIONS)
        self.continuations = self._greedy_continuations()
        self.suspect = False
        self.replaced = 0

    def fresh_enough(self) -> RunningServer:
        if self.suspect or not (self.ready() and self.settled()):
            stop_server(self.server)
            self.server = start_server(self.model_path, *SERVER_OPTIONS)
            self.replaced += 1
        self.suspect = True
        return self.server

    def close(self) -> None:
        self.http.close()
        stop_server(self.server)

    def gauges(self) -> tuple[int, int] | None:
        """(slots processing, buffered requests), None when the management API does not answer."""
        try:
            agents = self.http.get(f"{self.server.management_url}/api/v1/agents").json()["agents"]
            buffered = self.http.get(f"{self.server.management_url}/api/v1/buffered_requests").json()
        except httpx.HTTPError:
            return None
        return int(agents[0]["slots_processing"]), int(buffered["buffered_requests_current"])

    def settled(self) -> bool:
        return self.gauges() == (0, 0)

    def readiness(self) -> str:
        try:
            response = self.http.get(self.server.inference_url + "/ready")
        except httpx.HTTPError as error:
            return repr(error)
        return "ready" if response.status_code == 200 else response.text

    def ready(self) -> bool:
        return self.readiness() == "ready"

    def lines(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.http.post(self.server.inference_url + RAW_PROMPT, json=body, timeout=20)
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines() if line]

    def _greedy_continuations(self) -> list[Greedy]:
        """Each counting prompt run alone; each must produce MAX_TOKENS tokens without ending early."""
        continuations = []
        for start in COUNTING_STARTS:
            prompt = _counting_prompt(start)
            call = Call(prompt, MAX_TOKENS, Forced(""))
            for line in self.lines({"raw_prompt": prompt, "max_tokens": MAX_TOKENS}):
                call.receive(line)
            assert call.end is not None, call
            assert "Done" in call.end["Response"]["response"]["GeneratedToken"], call
            assert len(call.tokens) == MAX_TOKENS, f"{prompt!r} stops early: {call.tokens}"
            continuations.append(Greedy(prompt, tuple(call.tokens)))
        return continuations

    def serves_every_slot_and_the_buffer(self) -> str | None:
        """A probe after every example: slots + buffer requests at once must all be served."""

        def one(index: int) -> list[dict[str, Any]]:
            return self.lines({"raw_prompt": f"Hi {index}", "max_tokens": 1})

        try:
            with ThreadPoolExecutor(SLOTS + BUFFER) as pool:
                answers = list(pool.map(one, range(SLOTS + BUFFER)))
        except (httpx.HTTPError, AssertionError) as error:
            return f"the probe after the example failed: {error!r}"
        for lines in answers:
            if "Done" not in lines[-1].get("Response", {}).get("response", {}).get("GeneratedToken", {}):
                return f"the probe after the example was answered {lines}"
        return None


class InterleavedClients(RuleBasedStateMachine):
    under_test: ServerUnderTest
    outcomes: Counter[str]

    sockets = Bundle("sockets")

    def __init__(self) -> None:
        super().__init__()
        self.server = self.under_test.fresh_enough()
        self.clients: list[SocketClient] = []
        self.http: list[HttpClient] = []
        self.calls: list[Call] = []

    # --- requests ---

    def _call(
        self, where: str, kind: str, max_tokens: int, *, duplicate: bool = False, end_optional: bool = False
    ) -> Call:
        """A new request of `kind` (see KINDS); endless ones ask for more tokens than a test waits for."""
        sequence = len(self.calls) + 1
        expected: Expected
        if kind == "greedy":
            continuations = self.under_test.continuations
            expected = continuations[sequence % len(continuations)]
        else:
            expected = Forced(f"z{sequence:03d}")
        endless = kind == "endless"
        max_tokens = ENDLESS_MAX_TOKENS if endless else max_tokens
        call = Call(f"{where}#{sequence}", max_tokens, expected, endless, duplicate, end_optional)
        self.calls.append(call)
        return call

    @staticmethod
    def _body(call: Call, conversation: bool) -> tuple[str, str, dict[str, Any]]:
        """(route, socket variant, body) of a call."""
        match call.expected:
            case Greedy(prompt=prompt):
                return RAW_PROMPT, "ContinueFromRawPrompt", {"raw_prompt": prompt, "max_tokens": call.max_tokens}
            case Forced(word=word) if conversation:
                body = {
                    "add_generation_prompt": True,
                    "enable_thinking": False,
                    "max_tokens": call.max_tokens,
                    "conversation_history": [{"role": "user", "content": f"Say {word} forever."}],
                    "grammar": _forcing_grammar(word),
                }
                return CONVERSATION, "ContinueFromConversationHistory", body
            case Forced(word=word):
                body = {"raw_prompt": f"Say {word} forever.", "max_tokens": call.max_tokens}
                return RAW_PROMPT, "ContinueFromRawPrompt", {**body, "grammar": _forcing_grammar(word)}

    def _socket_send(self, client: SocketClient, request_id: str, call: Call, kind: str) -> None:
        _, variant, body = self._body(call, conversation=kind == "conversation")
        client.send(request_id, call, {variant: body})
        if not client.paused:
            self._until_answered([call])

    def _http_send(self, calls: list[Call], kind: str, keep_lines: int | None = None, slow: bool = False) -> None:
        for call in calls:
            path, _, body = self._body(call, conversation=kind == "conversation")
            url = self.server.inference_url + path
            client = HttpClient(self.under_test.http, url, body, call, keep_lines=keep_lines, slow=slow)
            self.http.append(client)
            client.start()
        self._until_answered(calls)

    def _until_answered(self, calls: list[Call]) -> None:
        """Wait (boundedly) until the server holds each call: a first line came, or a request waits in
        the buffer. The next step then meets the same server state in a replay as in the first run."""
        deadline = time.monotonic() + ANSWER_SECONDS
        next_look = time.monotonic() + POLL_SECONDS
        while time.monotonic() < deadline:
            if all(call.tokens or call.ended for call in calls):
                return
            if self._pump():
                continue
            if time.monotonic() >= next_look:
                gauges = self.under_test.gauges()
                if gauges is not None and gauges[1] > 0:
                    return
                next_look = time.monotonic() + POLL_SECONDS
            time.sleep(0.005)

    def _pump(self) -> bool:
        return any([client.pump() for client in self.clients])

    def _open(self) -> list[SocketClient]:
        return [client for client in self.clients if client.open]

    def _new_socket(self) -> SocketClient:
        client = SocketClient(self.server, f"ws{len(self.clients)}")
        self.clients.append(client)
        return client

    # --- rules ---

    @initialize(target=sockets)
    def open_two_sockets(self) -> MultipleResults[SocketClient]:
        return multiple(self._new_socket(), self._new_socket())

    @precondition(lambda self: len(self._open()) < MAX_SOCKETS)
    @rule(target=sockets)
    def open_socket(self) -> SocketClient:
        return self._new_socket()

    @rule(
        client=sockets,
        request_id=st.sampled_from(ID_POOL),
        kind=st.sampled_from(KINDS),
        max_tokens=st.integers(1, MAX_TOKENS),
    )
    def socket_request(self, client: SocketClient, request_id: str, kind: str, max_tokens: int) -> None:
        """A request under a shared id. Under the id of an endless request in flight on this socket it is
        a duplicate, which the server must refuse. An id that may or may not be in flight still (a short
        request not ended yet, a stopped one) is not reused: the request goes under a fresh id.
        (What is drawn never depends on timing, so that hypothesis can replay an example.)"""
        if not client.open:
            return
        duplicate = request_id in client.endless_ids()
        if duplicate:
            kind = "greedy"
        elif not client.is_free(request_id):
            request_id = f"{request_id}-{len(self.calls) + 1}"
        call = self._call(f"{client.name}:{request_id}", kind, max_tokens, duplicate=duplicate)
        self._socket_send(client, request_id, call, kind)

    @rule(client=sockets, request_id=st.sampled_from(ID_POOL), max_tokens=st.integers(1, MAX_TOKENS))
    def socket_request_twice_under_one_id(self, client: SocketClient, request_id: str, max_tokens: int) -> None:
        """A second request under the id of an endless one in flight on the same socket (started here
        when there is none): the server must refuse it with a 400."""
        if not client.open:
            return
        if request_id not in client.endless_ids():
            if not client.is_free(request_id):
                request_id = f"{request_id}-{len(self.calls) + 1}"
            self._socket_send(client, request_id, self._call(f"{client.name}:{request_id}", "endless", 0), "endless")
        call = self._call(f"{client.name}:{request_id}", "greedy", max_tokens, duplicate=True)
        self._socket_send(client, request_id, call, "greedy")

    @rule(client=sockets, request_id=st.sampled_from(ID_POOL))
    def stop_responding(self, client: SocketClient, request_id: str) -> None:
        if client.open:
            client.stop(request_id)
        self._pump()

    @rule(client=consumes(sockets), abrupt=st.booleans())
    def close_socket(self, client: SocketClient, abrupt: bool) -> None:
        if client.open:
            client.close(abrupt)
        self._pump()

    @rule(client=sockets)
    def pause_or_resume_reading(self, client: SocketClient) -> None:
        client.pause_or_resume()
        self._pump()

    @rule(
        kind=st.sampled_from(KINDS),
        max_tokens=st.integers(1, MAX_TOKENS),
        keep_lines=st.none() | st.integers(1, 3),
        slow=st.booleans(),
    )
    def http_request(self, kind: str, max_tokens: int, keep_lines: int | None, slow: bool) -> None:
        # An endless request over HTTP is always abandoned: nothing else could end it.
        keep_lines = (keep_lines or 1) if kind == "endless" else keep_lines
        call = self._call("http", kind, max_tokens, end_optional=keep_lines is not None)
        self._http_send([call], kind, keep_lines, slow)

    @rule(count=st.integers(SLOTS + 1, SLOTS + BUFFER + 2), max_tokens=st.integers(1, MAX_TOKENS // 2))
    def http_burst(self, count: int, max_tokens: int) -> None:
        self._http_send([self._call("burst", "greedy", max_tokens) for _ in range(count)], "greedy")

    @rule(seconds=st.sampled_from([0.02, 0.1]))
    def let_time_pass(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._pump():
                time.sleep(0.01)

    # --- checks ---

    def _problems_so_far(self) -> list[str]:
        problems = [problem for call in self.calls if (problem := call.misdelivery()) is not None]
        problems += [
            f"{client.name}: lines for no request: {client.strays[:3]}" for client in self.clients if client.strays
        ]
        return problems + [client.lost for client in self.clients if client.lost is not None]

    @invariant()
    def every_line_reached_its_own_request(self) -> None:
        problems = self._problems_so_far()
        assert not problems, "\n".join(problems)

    def _wait_for_every_end(self) -> None:
        """Read until every call that must end has ended; give up early once the server has nothing
        running and no line has come for a while (a lost request never ends)."""
        deadline = time.monotonic() + END_DEADLINE_SECONDS
        heard_at = time.monotonic()
        while time.monotonic() < deadline and not all(call.ended or call.end_optional for call in self.calls):
            if self._pump():
                heard_at = time.monotonic()
                continue
            heard_at = max([heard_at, *(client.last_line_at for client in self.http if client.is_alive())])
            if time.monotonic() - heard_at > SILENCE_SECONDS and (
                self.under_test.settled() or not self.under_test.ready()
            ):
                return
            time.sleep(0.01)

    def teardown(self) -> None:
        for client in self._open():
            client.paused_at = None
            for request_id in client.endless_ids():
                client.stop(request_id)
        self._wait_for_every_end()
        for client in self._open():
            client.close(abrupt=False)
        deadline = time.monotonic() + GAUGE_SECONDS
        for http_client in self.http:
            http_client.join(timeout=max(0.0, deadline - time.monotonic()))
        problems = self._problems_so_far()
        for call in self.calls:
            outcome, problem = call.outcome()
            self.outcomes[outcome] += 1
            event(outcome)
            problems += [problem] if problem is not None else []
        under_test = self.under_test
        if not wait_for(under_test.settled, timeout=GAUGE_SECONDS):
            problems.append(f"(slots processing, buffered) did not return to 0: {under_test.gauges()}")
        if not under_test.ready():
            problems.append(f"the engine is not ready: {under_test.readiness()}")
        elif (probe := under_test.serves_every_slot_and_the_buffer()) is not None:
            problems.append(probe)
        assert not problems, "\n".join(problems)
        under_test.suspect = False


@pytest.fixture(scope="module")
def under_test(default_model_path: Path) -> Iterator[ServerUnderTest]:
    running = ServerUnderTest(default_model_path)
    yield running
    running.close()


# About 2 minutes on 2 idle cores; the margin is for a busy machine, and for shrinking when it fails.
@pytest.mark.timeout(900)
def test_interleaved_clients_each_get_exactly_their_own_answers(under_test: ServerUnderTest) -> None:
    outcomes: Counter[str] = Counter()

    class Machine(InterleavedClients):
        pass

    Machine.under_test = under_test
    Machine.outcomes = outcomes
    started = time.monotonic()
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(
        f"{EXAMPLES} examples in {time.monotonic() - started:.0f} s; outcomes: {dict(outcomes)}; "
        f"servers replaced: {under_test.replaced}"
    )
    assert outcomes["done"] > 0
    assert outcomes["duplicate refused"] > 0
