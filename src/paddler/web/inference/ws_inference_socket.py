"""GET /api/v1/inference_socket: many generations multiplexed over one WebSocket, keyed by client ids.

Each request streams from its own thread; frames go out under one lock. A StopRespondingTo, a closed
socket or a server error cancels exactly the requests concerned, and nothing is sent for a request after
its terminal message or its cancellation. Unlike Paddler, a malformed frame or an invalid request is
answered with a 400 Error envelope and never closes the socket.

Each open socket holds a server thread, so sockets beyond the services' bound are refused with 503
before the handshake. A frame that cannot be written within the send timeout (the client stopped
reading) drops the client: its requests are cancelled and their pumps end instead of queueing behind
the stuck write.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from typing import Any

from flask import Blueprint, Response, g
from flask_sock import ConnectionClosed, Sock
from pydantic import BaseModel, ValidationError

from paddler.engine.result_stream import ResultStream
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedTokenResult, GenerationErrorKind, GenerationFailed
from paddler.web.inference.prepare_generation import (
    GENERATION_DISABLED,
    history_generation,
    raw_prompt_generation,
    submit_paddler_generation,
    tool_schema_problem,
)
from paddler.web.inference.wire_params import (
    ContinueFromConversationHistoryParams,
    ContinueFromRawPromptParams,
)
from paddler.web.inference.wire_results import token_result_line
from paddler.web.shared.api_error import ApiError
from paddler.web.shared.error_envelope import error_envelope
from paddler.web.shared.json_checks import DuplicateKeyError, loads_without_duplicates, validation_problem
from paddler.web.shared.paddler_services import PaddlerServices, current_services

logger = logging.getLogger(__name__)
blueprint = Blueprint("inference_socket", __name__)
sock = Sock()

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
RECEIVE_POLL_SECONDS = 0.5
# Each in-flight request holds a thread; one connection may not take them all.
MAX_IN_FLIGHT_PER_SOCKET = 64
GOING_AWAY = 1001
# Keep-alive pings; simple-websocket drops a peer that misses one pong (a vanished one, or one whose
# library stopped reading, as a paused consumer's may).
PING_SECONDS = 15


class _DaemonThread(threading.Thread):
    """simple-websocket's reader thread waits up to a ping interval in select(); as an ordinary thread
    it would hold the process open that long after shutdown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.daemon = True


SOCKET_OPTIONS = {"ping_interval": PING_SECONDS, "max_message_size": MAX_MESSAGE_BYTES, "thread_class": _DaemonThread}
_VARIANTS: dict[str, type[BaseModel]] = {
    "ContinueFromConversationHistory": ContinueFromConversationHistoryParams,
    "ContinueFromRawPrompt": ContinueFromRawPromptParams,
}


class _BoundedSendSocket:
    """The connection as simple-websocket sees it, with every write whole (it calls send and ignores a
    short count) and done within `timeout` seconds, else TimeoutError. Reads are unaffected in practice:
    simple-websocket reads only once select() has seen data."""

    def __init__(self, connection: socket.socket, timeout: float) -> None:
        connection.settimeout(timeout)
        self._connection = connection

    def send(self, data: bytes) -> int:
        self._connection.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


@blueprint.before_request
def _refuse_beyond_the_bound() -> Response | None:
    """Counted before the handshake, so a refused client gets a plain 503 and holds no thread."""
    sockets = current_services().open_websockets
    if not sockets.try_enter():
        return Response(
            f"At most {sockets.limit} WebSockets may be open at once; try again shortly",
            status=503,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": "1"},
        )
    g.websocket_counted = True
    return None


@blueprint.teardown_request
def _count_the_close(_: BaseException | None) -> None:
    if g.pop("websocket_counted", False):
        current_services().open_websockets.leave()


class BadFrameError(ValueError):
    def __init__(self, request_id: str, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id


def _single_key(value: Any, where: str, request_id: str = "") -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise BadFrameError(request_id, f"{where} must be an object with exactly one key")
    return next(iter(value.items()))


class InferenceSocketSession:
    def __init__(self, ws: Any, services: PaddlerServices) -> None:
        self._ws = ws
        self._services = services
        ws.sock = _BoundedSendSocket(ws.sock, services.websocket_send_timeout)
        self._lock = threading.Lock()
        self._in_flight: dict[str, ResultStream[GeneratedTokenResult]] = {}

    def run(self) -> None:
        if not self._services.engine.settings.enable_generation:
            self._send(json.dumps({"Notification": "TokenGenerationDisabled"}))
        try:
            while not self._services.shutting_down.is_set():
                frame = self._ws.receive(timeout=RECEIVE_POLL_SECONDS)
                if isinstance(frame, str):
                    self._handle_frame(frame)
            self._ws.close(reason=GOING_AWAY, message="Server shutting down")
        except (ConnectionClosed, OSError):
            pass
        finally:
            self._cancel_all()

    def _send(self, text: str) -> None:
        with self._lock:
            self._send_locked(text)

    def _send_locked(self, text: str) -> None:
        """Send with the lock held; a write that fails or times out drops the client (ConnectionClosed)."""
        try:
            self._ws.send(text)
        except OSError as error:
            logger.info("dropping a WebSocket client whose frames cannot be written: %s", error or type(error).__name__)
            self._drop()
            raise ConnectionClosed(1008, "the client stopped reading") from None

    def _drop(self) -> None:
        """End the connection at once: the reader thread and the receive loop see it closed, the client
        sees the connection end, and every later send raises ConnectionClosed."""
        self._ws.connected = False
        with contextlib.suppress(OSError):
            self._ws.sock.shutdown(socket.SHUT_RDWR)

    def _handle_frame(self, frame: str) -> None:
        try:
            kind, body = _single_key(loads_without_duplicates(frame), "a message")
            if kind == "Request":
                self._handle_request(body)
            elif kind == "Notification":
                notification, request_id = _single_key(body, "a notification")
                if notification != "StopRespondingTo" or not isinstance(request_id, str):
                    raise BadFrameError("", f"unknown notification {notification!r}")
                self._stop(request_id)
            elif kind == "Error":
                logger.info("client reported an error: %s", body)
            else:
                raise BadFrameError("", f"unknown message {kind!r}")
        except (json.JSONDecodeError, DuplicateKeyError, RecursionError) as error:
            self._send(error_envelope("", 400, f"invalid JSON: {error}"))
        except BadFrameError as error:
            self._send(error_envelope(error.request_id, 400, str(error)))

    def _handle_request(self, body: Any) -> None:
        if not isinstance(body, dict) or set(body) != {"id", "request"} or not isinstance(body["id"], str):
            raise BadFrameError("", 'a request needs exactly "id" (a string) and "request"')
        request_id: str = body["id"]
        variant, raw_params = _single_key(body["request"], "request", request_id)
        model = _VARIANTS.get(variant)
        if model is None:
            raise BadFrameError(request_id, f"unknown request {variant!r}")
        try:
            params = model.model_validate(raw_params)
        except ValidationError as error:
            location, message = validation_problem(error)
            raise BadFrameError(request_id, f"invalid {variant}: {location}: {message}") from None
        with self._lock:
            if request_id in self._in_flight:
                self._send_locked(
                    error_envelope(
                        request_id, 400, f"Request id {json.dumps(request_id)} is already in flight on this connection"
                    )
                )
                return
            if len(self._in_flight) >= MAX_IN_FLIGHT_PER_SOCKET:
                self._send_locked(
                    error_envelope(
                        request_id,
                        429,
                        f"At most {MAX_IN_FLIGHT_PER_SOCKET} requests may be in flight on one connection",
                    )
                )
                return
        self._start_generation(request_id, params)

    def _start_generation(self, request_id: str, params: BaseModel) -> None:
        services = self._services
        if not services.engine.settings.enable_generation:
            failure = GenerationFailed(GenerationErrorKind.TOKEN_GENERATION_DISABLED, GENERATION_DISABLED)
            self._send(token_result_line(request_id, None, failure))
            return
        generation: GenerateTokensParams | GenerationFailed
        try:
            if isinstance(params, ContinueFromConversationHistoryParams):
                problem = tool_schema_problem(params.tools)
                if problem is not None:
                    raise BadFrameError(request_id, problem)
                generation = history_generation(params, services)
            else:
                assert isinstance(params, ContinueFromRawPromptParams)
                generation = raw_prompt_generation(params, services)
            if isinstance(generation, GenerationFailed):
                self._send(token_result_line(request_id, services.name, generation))
                return
            stream = submit_paddler_generation(services, generation)
        except ApiError as error:
            self._send(error_envelope(request_id, error.status, error.message))
            return
        with self._lock:
            self._in_flight[request_id] = stream
        threading.Thread(target=self._pump, args=(request_id, stream), name=f"socket-{request_id}", daemon=True).start()

    def _pump(self, request_id: str, stream: ResultStream[GeneratedTokenResult]) -> None:
        try:
            for result in stream:
                with self._lock:
                    if self._in_flight.get(request_id) is not stream:
                        return
                    if result.is_terminal:
                        del self._in_flight[request_id]
                    self._send_locked(token_result_line(request_id, self._services.name, result))
        except ConnectionClosed:
            pass
        finally:
            stream.close()

    def _stop(self, request_id: str) -> None:
        with self._lock:
            stream = self._in_flight.pop(request_id, None)
        if stream is not None:
            stream.close()

    def _cancel_all(self) -> None:
        with self._lock:
            streams = list(self._in_flight.values())
            self._in_flight.clear()
        for stream in streams:
            stream.close()


@sock.route("/api/v1/inference_socket", bp=blueprint)
def inference_socket(ws: Any) -> None:
    InferenceSocketSession(ws, current_services()).run()
