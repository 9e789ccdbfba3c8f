"""A request of OpenAI's Responses API and the generation it asks for.

Better than Paddler's: assistant history given as `output_text` is kept (Paddler drops it), earlier
function calls reach the template as real tool calls rather than JSON text, `text.format` json_schema
turns thinking off instead of failing, tool_choice is honoured, images are read when a projector is loaded,
and what cannot be served (images for a model without one,
previous_response_id, other tool choices) is a clear 400 rather than silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.web.openai.error import OpenAIError, from_validation_error
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
    FunctionDefinition,
    FunctionName,
    check_tool_schemas,
    chosen_functions,
    template_tool_call,
    template_tools,
    tool_definitions,
)
from paddler.web.shared.image_input import ImageCollector
from paddler.web.shared.paddler_services import PaddlerServices


class MessageItem(Lenient):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]


class FunctionCallItem(Lenient):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(Lenient):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]


class ResponsesTool(Lenient):
    """Responses tools are flat: {"type": "function", "name", "description", "parameters"}."""

    type: str
    name: FunctionName | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None


class NamedFunctionChoice(Lenient):
    type: str
    name: str | None = None


class TextFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextOptions(Lenient):
    format: TextFormat = Field(default_factory=TextFormat)


class Reasoning(Lenient):
    effort: str | None = None
    summary: str | None = None


class ResponsesRequest(SamplingFields):
    input: str | list[dict[str, Any]] = Field(default_factory=list)
    instructions: str | None = None
    stream: bool = False
    max_output_tokens: TokenLimit | None = None
    tools: list[ResponsesTool] = Field(default_factory=list)
    tool_choice: Literal["none", "auto", "required"] | NamedFunctionChoice | None = None
    text: TextOptions = Field(default_factory=TextOptions)
    reasoning: Reasoning | None = None
    parallel_tool_calls: bool = True
    metadata: dict[str, str] | None = None
    previous_response_id: str | None = None

    @property
    def thinking(self) -> bool:
        return self.reasoning is None or self.reasoning.effort != "none"


def _append_call(messages: list[dict[str, Any]], item: FunctionCallItem) -> None:
    """Calls join the assistant turn just before them, as one turn with several calls."""
    call = template_tool_call(item.call_id, item.name, item.arguments)
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and "tool_calls" in last:
        last["tool_calls"].append(call)
    elif last is not None and last["role"] == "assistant":
        last["tool_calls"] = [call]
    else:
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem
_ITEM_MODELS: dict[str, type[InputItem]] = {
    "message": MessageItem,
    "function_call": FunctionCallItem,
    "function_call_output": FunctionCallOutputItem,
}


def _parse_item(item: dict[str, Any], index: int) -> InputItem | None:
    model = _ITEM_MODELS.get(item.get("type", "message"))
    if model is None:
        return None  # reasoning and other items carry nothing a template reads
    try:
        return model.model_validate(item)
    except ValidationError as error:
        problem = from_validation_error(error)
        raise OpenAIError(400, f"input[{index}].{problem.message}", param=f"input[{index}]") from None


def _messages(request: ResponsesRequest, images: ImageCollector | None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        return [*messages, {"role": "user", "content": request.input}]
    for index, raw in enumerate(request.input):
        item = _parse_item(raw, index)
        param = f"input[{index}]"
        if isinstance(item, MessageItem):
            role = "system" if item.role == "developer" else item.role
            messages.append({"role": role, "content": content_text(item.content, param, images)})
        elif isinstance(item, FunctionCallItem):
            _append_call(messages, item)
        elif isinstance(item, FunctionCallOutputItem):
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": content_text(item.output, param)})
    if not messages:
        raise OpenAIError(400, "input is empty", param="input")
    return messages


def offered_functions(request: ResponsesRequest) -> list[FunctionDefinition]:
    """The function tools; other tool types (web search, files…) are hosted by OpenAI and dropped."""
    functions = []
    for index, tool in enumerate(request.tools):
        if tool.type != "function":
            continue
        if tool.name is None:
            raise OpenAIError(400, "a function tool needs a name", param=f"tools[{index}].name")
        functions.append(FunctionDefinition(name=tool.name, description=tool.description, parameters=tool.parameters))
    return functions


def _choice(request: ResponsesRequest) -> str | None:
    choice = request.tool_choice
    if choice is None or isinstance(choice, str):
        return choice
    if choice.type != "function" or choice.name is None:
        raise OpenAIError(400, f"tool_choice of type {choice.type!r} is not supported", param="tool_choice")
    return choice.name


def responses_generation(request: ResponsesRequest, services: PaddlerServices) -> GenerateTokensParams:
    """Raises OpenAIError for what cannot be served (400, 404) and while the model loads (503)."""
    check_model(request.model, services)
    if request.previous_response_id is not None:
        raise OpenAIError(
            400,
            "previous_response_id is not supported: this server stores no responses; send the conversation as input",
            param="previous_response_id",
        )
    offered = offered_functions(request)
    check_tool_schemas(offered)
    functions, force = chosen_functions(offered, _choice(request))
    images = services.image_collector()
    conversation = Conversation(
        messages=_messages(request, images),
        template_tools=template_tools(functions),
        tools=tool_definitions(functions),
        force_tool_call=force,
        grammar=format_grammar(request.text.format.type, request.text.format.schema_, "text.format"),
        max_tokens=request.max_output_tokens,
        thinking=request.thinking,
        images=() if images is None else tuple(images.images),
    )
    return conversation_generation(conversation, request, services)
