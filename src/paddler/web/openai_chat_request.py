"""OpenAI requests: parsed leniently at the top level (unknown fields are ignored, as OpenAI does) and
turned into a generation with per-request sampling over the server's defaults."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from paddler.messages.generate_tokens_params import GenerateTokensParams, JsonSchemaConstraint
from paddler.messages.sampling_params import SamplingParams
from paddler.web.chat_template import ChatTemplateError, render_chat_prompt
from paddler.web.openai_error import OpenAIError
from paddler.web.openai_tools import (
    ChatTool,
    Lenient,
    MessageToolCall,
    ToolChoice,
    check_tool_schemas,
    chosen_functions,
    template_tool_calls,
    template_tools,
    tool_definitions,
)
from paddler.web.paddler_services import PaddlerServices

MAX_STOP_STRINGS = 4


class TextPart(Lenient):
    type: Literal["text"]
    text: str


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    # An assistant's earlier calls, and the id a tool message answers.
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class JsonSchemaFormat(Lenient):
    name: str = "response"
    # `schema` is a reserved name on pydantic models.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class ResponseFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class OpenAISampling(Lenient):
    """What every OpenAI generation request shares."""

    model: str
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 2)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP_STRINGS)] | None = None
    n: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # llama-server's extension: never sample an end-of-generation token.
    ignore_eos: bool = False

    @property
    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(OpenAISampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    response_format: ResponseFormat | None = None
    tools: list[ChatTool] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


def served_model_id(services: PaddlerServices) -> str:
    """The one model id this server answers to: its name, else the model file's name."""
    return services.name or Path(services.engine.settings.model_path).stem


def check_model(request: OpenAISampling, services: PaddlerServices) -> None:
    """OpenAI's 400 for n > 1 and 404 for a model this server does not serve."""
    if request.n is not None and request.n != 1:
        raise OpenAIError(400, "n > 1 is not supported: this server returns one choice", param="n")
    served = served_model_id(services)
    if request.model != served:
        raise OpenAIError(
            404,
            f"The model `{request.model}` does not exist; this server serves `{served}` (see GET /v1/models)",
            code="model_not_found",
            param="model",
        )


def sampling_for(request: OpenAISampling, defaults: SamplingParams) -> SamplingParams:
    overrides: dict[str, Any] = {}
    for field, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("seed", request.seed),
        ("penalty_presence", request.presence_penalty),
        ("penalty_frequency", request.frequency_penalty),
    ):
        if value is not None:
            overrides[field] = value
    return replace(defaults, **overrides)


def _grammar(response_format: ResponseFormat | None) -> JsonSchemaConstraint | None:
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return JsonSchemaConstraint('{"type": "object"}')
    if response_format.json_schema is None or response_format.json_schema.schema_ is None:
        raise OpenAIError(400, "response_format json_schema needs a schema", param="response_format")
    return JsonSchemaConstraint(json.dumps(response_format.json_schema.schema_))


def _template_message(message: ChatMessage) -> dict[str, Any]:
    role = "system" if message.role == "developer" else message.role
    if message.content is None or isinstance(message.content, str):
        content = message.content or ""
    else:
        content = "".join(part.text for part in message.content)
    rendered: dict[str, Any] = {"role": role, "content": content}
    if message.tool_calls:
        rendered["tool_calls"] = template_tool_calls(message.tool_calls)
    if message.tool_call_id is not None:
        rendered["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        rendered["name"] = message.name
    return rendered


def chat_generation(request: ChatCompletionRequest, services: PaddlerServices) -> GenerateTokensParams:
    """Raises OpenAIError for what OpenAI refuses (400, 404) and while the model loads (503)."""
    check_model(request, services)
    grammar = _grammar(request.response_format)
    offered = [tool.function for tool in request.tools]
    check_tool_schemas(offered)
    functions, force = chosen_functions(offered, request.tool_choice)
    if force and grammar is not None:
        raise OpenAIError(400, "a required tool call cannot be combined with response_format", param="tool_choice")
    engine = services.serving_engine()
    info = engine.model_info
    template = services.chat_template
    if info is None or template is None:
        raise OpenAIError(503, "the model is loading or has no chat template")
    try:
        prompt = render_chat_prompt(
            template,
            [_template_message(message) for message in request.messages],
            add_generation_prompt=True,
            # A grammar constrains the output from its first token, leaving no room for thinking.
            enable_thinking=grammar is None and not force,
            tools=template_tools(functions),
            bos_token=info.bos_text,
            eos_token=info.eos_text,
        )
    except ChatTemplateError as error:
        raise OpenAIError(400, str(error), param="messages") from None
    return GenerateTokensParams(
        prompt=prompt,
        max_tokens=request.token_limit,
        sampling=sampling_for(request, engine.settings.sampling),
        grammar=grammar,
        ignore_eog=request.ignore_eos,
        chat_template=template,
        tools=tool_definitions(functions),
        parse_tool_calls=bool(functions),
        force_tool_call=force,
    )
