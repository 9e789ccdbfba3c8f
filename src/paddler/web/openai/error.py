"""Errors of the OpenAI-compatible API, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from flask import Response, jsonify
from pydantic import ValidationError

from paddler.web.shared.json_checks import validation_problem

OPENAI_PREFIX = "/v1/"
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
    504: "server_error",
}


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": _TYPES.get(self.status, "server_error"),
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> Response:
        response = jsonify(self.body())
        response.status_code = self.status
        return response


def is_openai_path(path: str) -> bool:
    """Routes under /v1/ answer every error in OpenAI's shape, whatever raised it."""
    return path.startswith(OPENAI_PREFIX)


def from_validation_error(error: ValidationError) -> OpenAIError:
    location, message = validation_problem(error)
    return OpenAIError(400, f"{location}: {message}" if location else message, param=location or None)
