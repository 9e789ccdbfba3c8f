"""A chat completion request in OpenAI's shape and the generation it asks for."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from paddler.messages.generate_tokens_params import MAX_TOP_LOGPROBS, GenerateTokensParams, JsonSchemaConstraint
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.request import (
    ContentPart,
    Conversation,
    Lenient,
    SamplingFields,
    TokenLimit,
    check_model,
    content_text,
    conversation_generation,
    format_grammar,
)
from paddler.web.openai.tools import (
    ChatTool,
    MessageToolCall,
    ToolChoice,
    check_tool_schemas,
    chosen_functions,
    template_tool_calls,
    template_tools,
    tool_definitions,
)
from paddler.web.shared.image_input import ImageCollector
from paddler.web.shared.paddler_services import PaddlerServices

MAX_STOP_STRINGS = 4
# Text that could still become a stop string is held back and rescanned per token, so each is bounded.
MAX_STOP_STRING_CHARACTERS = 1000
StopString = Annotated[str, Field(max_length=MAX_STOP_STRING_CHARACTERS)]


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
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


class ChatTemplateKwargs(Lenient):
    """The one template variable this server lets a request set; others are ignored."""

    enable_thinking: bool = True


class OpenAISampling(SamplingFields):
    """What the chat and text completion requests share."""

    stop: StopString | Annotated[list[StopString], Field(max_length=MAX_STOP_STRINGS)] | None = None
    n: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    @property
    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionRequest(OpenAISampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: TokenLimit | None = None
    max_completion_tokens: TokenLimit | None = None
    response_format: ResponseFormat | None = None
    tools: list[ChatTool] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None
    logprobs: bool = False
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    # llama-server's extension: variables for the chat template; `enable_thinking: false` turns thinking off.
    chat_template_kwargs: ChatTemplateKwargs | None = None

    @property
    def thinking(self) -> bool:
        if self.reasoning_effort == "none":
            return False
        return self.chat_template_kwargs is None or self.chat_template_kwargs.enable_thinking

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


def check_one_choice(request: OpenAISampling, services: PaddlerServices) -> None:
    """OpenAI's 400 for n > 1 and 404 for a model this server does not serve."""
    if request.n is not None and request.n != 1:
        raise OpenAIError(400, "n > 1 is not supported: this server returns one choice", param="n")
    check_model(request.model, services)


def _response_format_grammar(response_format: ResponseFormat | None) -> JsonSchemaConstraint | None:
    if response_format is None:
        return None
    schema = None if response_format.json_schema is None else response_format.json_schema.schema_
    return format_grammar(response_format.type, schema, "response_format")


def _chat_message(message: ChatMessage, index: int, images: ImageCollector | None) -> dict[str, Any]:
    role = "system" if message.role == "developer" else message.role
    content = content_text(message.content, f"messages[{index}]", images)
    rendered: dict[str, Any] = {"role": role, "content": content}
    if message.tool_calls:
        rendered["tool_calls"] = template_tool_calls(message.tool_calls)
    if message.tool_call_id is not None:
        rendered["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        rendered["name"] = message.name
    return rendered


def chat_conversation(request: ChatCompletionRequest, images: ImageCollector | None = None) -> Conversation:
    """The request's conversation for the template, its images read into `images` (a model without a
    projector gets None: images are then a 400); raises OpenAIError 400 for tools it cannot offer or an
    image it cannot read."""
    if request.top_logprobs is not None and not request.logprobs:
        raise OpenAIError(400, "top_logprobs needs logprobs set to true", param="top_logprobs")
    offered = [tool.function for tool in request.tools]
    check_tool_schemas(offered)
    choice = request.tool_choice
    functions, force = chosen_functions(offered, choice if isinstance(choice, str | None) else choice.function.name)
    messages = [_chat_message(message, index, images) for index, message in enumerate(request.messages)]
    return Conversation(
        messages=messages,
        template_tools=template_tools(functions),
        tools=tool_definitions(functions),
        force_tool_call=force,
        grammar=_response_format_grammar(request.response_format),
        max_tokens=request.token_limit,
        top_logprobs=(request.top_logprobs or 0) if request.logprobs else None,
        thinking=request.thinking,
        images=() if images is None else tuple(images.images),
    )


def chat_generation(request: ChatCompletionRequest, services: PaddlerServices) -> GenerateTokensParams:
    """Raises OpenAIError for what OpenAI refuses (400, 404) and while the model loads (503)."""
    check_one_choice(request, services)
    return conversation_generation(chat_conversation(request, services.image_collector()), request, services)
