"""POST /tokenize and POST /detokenize, as llama-server answers them: text to the model's token ids (with
each token's piece when asked) and back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from flask import Blueprint, Response, jsonify
from pydantic import Field

from paddler.engine.engine_errors import EngineUnavailableError, InvalidRequestError
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.request import Lenient, parse_openai_body
from paddler.web.shared.api_error import MAX_BODY_BYTES
from paddler.web.shared.paddler_services import current_services

blueprint = Blueprint("llama_server_tokenize", __name__)
Answer = TypeVar("Answer")
# A body holds at most MAX_BODY_BYTES, and each id takes at least two bytes ("0,").
MAX_TOKENS = MAX_BODY_BYTES // 2


class TokenizeRequest(Lenient):
    content: str
    add_special: bool = False
    parse_special: bool = True
    with_pieces: bool = False


class DetokenizeRequest(Lenient):
    tokens: Annotated[list[int], Field(max_length=MAX_TOKENS)]


def _from_engine(call: Callable[[], Answer]) -> Answer:
    try:
        return call()
    except InvalidRequestError as error:
        raise OpenAIError(400, str(error), param="tokens") from None
    except EngineUnavailableError as error:
        raise OpenAIError(503, str(error)) from None


def _piece(piece: bytes) -> str | list[int]:
    """A piece as text, or as its bytes when it is only part of a UTF-8 character (llama-server's form)."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return list(piece)


@blueprint.post("/tokenize")
def post_tokenize() -> Response:
    asked = parse_openai_body(TokenizeRequest)
    engine = current_services().serving_engine()
    tokens = _from_engine(
        lambda: engine.tokenize(asked.content, add_special=asked.add_special, parse_special=asked.parse_special)
    )
    if not asked.with_pieces:
        return jsonify({"tokens": tokens})
    pieces = _from_engine(lambda: engine.token_pieces(tokens))
    answer: list[dict[str, Any]] = [
        {"id": token, "piece": _piece(piece)} for token, piece in zip(tokens, pieces, strict=True)
    ]
    return jsonify({"tokens": answer})


@blueprint.post("/detokenize")
def post_detokenize() -> Response:
    asked = parse_openai_body(DetokenizeRequest)
    engine = current_services().serving_engine()
    return jsonify({"content": _from_engine(lambda: engine.detokenize(asked.tokens))})
