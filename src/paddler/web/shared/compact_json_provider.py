"""JSON responses written as Paddler writes them (serde_json through actix): compact, with nothing after
the document. Flask's provider ends every body with a newline, and Paddler's client compares a `null`
body with the text "null" (GET /api/v1/agent/<id>/chat_template_override of an agent without one)."""

from __future__ import annotations

from typing import Any, cast

from flask import Response
from flask.json.provider import DefaultJSONProvider


class CompactJsonProvider(DefaultJSONProvider):
    def response(self, *args: Any, **kwargs: Any) -> Response:
        document = self._prepare_response_obj(args, kwargs)
        body = self.dumps(document, separators=(",", ":"))
        return cast(Response, self._app.response_class(body, mimetype=self.mimetype))
