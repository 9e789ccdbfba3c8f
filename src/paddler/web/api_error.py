"""Errors answered before a stream starts: a real HTTP status with a plain-text body, as Paddler does
(OpenAI's JSON error shape on the OpenAI routes)."""

from __future__ import annotations

from typing import TypeVar

from flask import Flask, Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from paddler.web.openai_error import OpenAIError, is_openai_path
from paddler.web.validation_problem import NestingTooDeepError, duplicate_key, validation_problem

MAX_BODY_BYTES = 2 * 1024 * 1024
Model = TypeVar("Model", bound=BaseModel)


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
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, f"Request body exceeds {MAX_BODY_BYTES} bytes")
    if not request.is_json:
        raise ApiError(400, "Content type error: expected application/json")
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"Request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        repeated = duplicate_key(body)
    except NestingTooDeepError as error:
        raise ApiError(400, f"Json deserialize error: {error}") from None
    if repeated is not None:
        raise ApiError(400, f"Json deserialize error: duplicate field `{repeated}`")
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise ApiError(400, _describe(error)) from None


def error_response(status: int, message: str) -> Response:
    """Plain text, as Paddler answers; OpenAI's JSON error on the OpenAI routes."""
    if is_openai_path(request.path):
        return OpenAIError(status, message).response()
    return Response(message, status=status, content_type="text/plain; charset=utf-8")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message)

    @app.errorhandler(OpenAIError)
    def handle_openai_error(error: OpenAIError) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        # Unhandled exceptions arrive here as a 500 too, so no route answers with an HTML page.
        return error_response(error.code or 500, error.description or "")
