"""Errors answered before a stream starts: a real HTTP status with a plain-text body, as Paddler does.
An app may answer some routes in another shape (the OpenAI routes, in OpenAI's JSON): it sets its
ErrorShape with `register_error_handlers`, and every error the shared code answers goes through it."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from paddler.web.shared.json_checks import (
    DuplicateKeyError,
    Model,
    NestingTooDeepError,
    validated_body,
    validation_problem,
)

MAX_BODY_BYTES = 2 * 1024 * 1024
# The bound on a server that reads images: a conversation carries them base64-encoded in its JSON
# (docs/multimodal.md: at most 20 MiB an image before encoding).
MAX_IMAGE_BODY_BYTES = 32 * 1024 * 1024
# The response of an error (status, message) for the route being answered.
ErrorShape = Callable[[int, str], Response]
_SHAPE_KEY = "paddler.error_shape"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _describe(error: ValidationError) -> str:
    location, message = validation_problem(error)
    return f"Json deserialize error: {location or 'body'}: {message}"


def parse_json_body(model: type[Model]) -> Model:
    """The request body as `model`, or ApiError 400/413/415 with a message naming the problem."""
    bound = request.max_content_length or MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > bound:
        raise ApiError(413, f"Request body exceeds {bound} bytes")
    if not request.is_json:
        raise ApiError(400, "Content type error: expected application/json")
    body = request.get_data(cache=False)
    if len(body) > bound:
        raise ApiError(413, f"Request body exceeds {bound} bytes")
    try:
        return validated_body(model, body)
    except NestingTooDeepError as error:
        raise ApiError(400, f"Json deserialize error: {error}") from None
    except DuplicateKeyError as error:
        raise ApiError(400, f"Json deserialize error: duplicate field `{error.key}`") from None
    except ValidationError as error:
        raise ApiError(400, _describe(error)) from None


def plain_text_error(status: int, message: str) -> Response:
    return Response(message, status=status, content_type="text/plain; charset=utf-8")


def error_response(status: int, message: str) -> Response:
    """The error in the shape of the app answering (Paddler's plain text unless it set another)."""
    shape: ErrorShape = current_app.extensions.get(_SHAPE_KEY, plain_text_error)
    return shape(status, message)


def register_error_handlers(app: Flask, shape: ErrorShape = plain_text_error) -> None:
    app.extensions[_SHAPE_KEY] = shape

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        # Unhandled exceptions arrive here as a 500 too, so no route answers with an HTML page.
        return error_response(error.code or 500, error.description or "")
