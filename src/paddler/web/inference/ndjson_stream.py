"""A ResultStream as a streaming NDJSON response: one envelope per line, ending after the terminal one
(followed as `follow` does, so whatever ends the response cancels the request if it had not ended)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, request

from paddler.engine.result_stream import Result, ResultStream
from paddler.web.shared.result_following import follow


def _lines(stream: ResultStream[Result], to_line: Callable[[Result], str], environ: dict[str, Any]) -> Iterator[bytes]:
    for result in follow(stream, environ):
        yield (to_line(result) + "\n").encode()


def ndjson_response(stream: ResultStream[Result], to_line: Callable[[Result], str]) -> Response:
    return Response(
        _lines(stream, to_line, request.environ),
        status=200,
        content_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )


def single_line_response(line: str) -> Response:
    return Response(line + "\n", status=200, content_type="application/json", headers={"Cache-Control": "no-cache"})
