"""The Responses API's output, built event by event from a generation: output items open and close as
the model moves between reasoning, text and tool calls, every event carries the next gapless
sequence number, and the final response holds the same items in the order the model produced them.
The non-streaming route runs the same builder and answers with the final response alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from paddler.messages.generated_token_result import ParsedToolCall, TokenLogprob
from paddler.messages.token_usage import TokenUsage
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.generation import Delta, Finished, ToolCalls, ToolCallText
from paddler.web.openai.tools import call_arguments, new_call_id

Event = dict[str, Any]


def _usage(usage: TokenUsage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.completion_tokens,
    }


@dataclass(slots=True)
class _OpenItem:
    """The reasoning or message item text is flowing into."""

    kind: str  # "reasoning" or "content"
    item: dict[str, Any]
    index: int
    texts: list[str] = field(default_factory=list)


class ResponseEvents:
    def __init__(self, response_id: str, settings: dict[str, Any]) -> None:
        """`settings`: the request's echoed fields (model, instructions, tools, tool_choice…)."""
        self.response_id = response_id
        self._settings = settings
        self._created_at = int(time.time())
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._open: _OpenItem | None = None
        self.final: dict[str, Any] | None = None

    def response_object(self, status: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self._created_at,
            "status": status,
            "error": None,
            "incomplete_details": None,
            **self._settings,
            "output": list(self._output),
            "usage": None,
            **extra,
        }

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _item_id(self, prefix: str, index: int) -> str:
        return f"{prefix}_{self.response_id.removeprefix('resp_')}_{index}"

    def opening_events(self) -> Iterator[Event]:
        snapshot = self.response_object("in_progress")
        yield self._event("response.created", response=snapshot)
        yield self._event("response.in_progress", response=snapshot)

    def feed(self, event: Delta | TokenLogprob | ToolCallText | ToolCalls | Finished) -> Iterator[Event]:
        if isinstance(event, TokenLogprob | ToolCallText):
            return  # log-probabilities are never asked for here; calls go out once parsed
        if isinstance(event, Delta):
            yield from self._text(event)
        elif isinstance(event, ToolCalls):
            yield from self._close_open_item()
            for call in event.calls:
                yield from self._function_call(call)
        else:
            yield from self._completion(event)

    def failure_events(self, error: OpenAIError) -> Iterator[Event]:
        yield self._event(
            "response.failed",
            response=self.response_object(
                "failed", output=[], error={"code": error.code or "server_error", "message": error.message}
            ),
        )

    def _text(self, delta: Delta) -> Iterator[Event]:
        kind = "reasoning" if delta.field == "reasoning_content" else "content"
        if self._open is None or self._open.kind != kind:
            yield from self._close_open_item()
            yield from self._open_item(kind)
        assert self._open is not None
        self._open.texts.append(delta.text)
        where = {"item_id": self._open.item["id"], "output_index": self._open.index, "content_index": 0}
        if kind == "reasoning":
            yield self._event("response.reasoning_text.delta", **where, delta=delta.text)
        else:
            yield self._event("response.output_text.delta", **where, delta=delta.text, logprobs=[])

    def _open_item(self, kind: str) -> Iterator[Event]:
        index = len(self._output)
        if kind == "reasoning":
            item: dict[str, Any] = {
                "type": "reasoning",
                "id": self._item_id("rs", index),
                "summary": [],
                "status": "in_progress",
            }
        else:
            item = {
                "type": "message",
                "id": self._item_id("msg", index),
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
        self._output.append(item)
        self._open = _OpenItem(kind, item, index)
        yield self._event("response.output_item.added", output_index=index, item=dict(item))
        if kind == "content":
            yield self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=_output_text(""),
            )

    def _close_open_item(self) -> Iterator[Event]:
        if self._open is None:
            return
        opened, self._open = self._open, None
        text = "".join(opened.texts)
        where = {"item_id": opened.item["id"], "output_index": opened.index, "content_index": 0}
        if opened.kind == "reasoning":
            done = {**opened.item, "status": "completed", "content": [{"type": "reasoning_text", "text": text}]}
            yield self._event("response.reasoning_text.done", **where, text=text)
        else:
            done = {**opened.item, "status": "completed", "content": [_output_text(text)]}
            yield self._event("response.output_text.done", **where, text=text, logprobs=[])
            yield self._event("response.content_part.done", **where, part=_output_text(text))
        self._output[opened.index] = done
        yield self._event("response.output_item.done", output_index=opened.index, item=done)

    def _function_call(self, call: ParsedToolCall) -> Iterator[Event]:
        index = len(self._output)
        item_id = self._item_id("fc", index)
        arguments = call_arguments(call)
        item = {
            "type": "function_call",
            "id": item_id,
            "call_id": new_call_id(),
            "name": call.name,
            "arguments": "",
            "status": "in_progress",
        }
        self._output.append(item)
        yield self._event("response.output_item.added", output_index=index, item=dict(item))
        where = {"item_id": item_id, "output_index": index}
        yield self._event("response.function_call_arguments.delta", **where, delta=arguments)
        yield self._event("response.function_call_arguments.done", **where, name=call.name, arguments=arguments)
        done = {**item, "arguments": arguments, "status": "completed"}
        self._output[index] = done
        yield self._event("response.output_item.done", output_index=index, item=done)

    def _completion(self, finished: Finished) -> Iterator[Event]:
        yield from self._close_open_item()
        if not any(item["type"] in ("message", "function_call") for item in self._output):
            # An answer with no text still has its (empty) message, as OpenAI gives.
            yield from self._open_item("content")
            yield from self._close_open_item()
        if finished.finish_reason == "length":
            self.final = self.response_object(
                "incomplete", incomplete_details={"reason": "max_output_tokens"}, usage=_usage(finished.usage)
            )
            yield self._event("response.incomplete", response=self.final)
            return
        self.final = self.response_object("completed", usage=_usage(finished.usage))
        yield self._event("response.completed", response=self.final)


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
