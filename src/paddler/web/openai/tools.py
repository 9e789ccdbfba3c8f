"""Function tools in OpenAI's shapes: the definitions a request offers, the choice it makes, the calls
an assistant made earlier in the conversation, and the calls the model makes now."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from paddler.engine.parse_tool_calls import invalid_tool_schema, unsafe_tool_schema
from paddler.messages.generate_tokens_params import ToolDefinition
from paddler.messages.generated_token_result import ParsedToolCall
from paddler.web.openai.error import OpenAIError
from paddler.web.openai.request import Lenient

# OpenAI's rule for function names.
FunctionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
_ID_ALPHABET = string.ascii_letters + string.digits


class FunctionDefinition(Lenient):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ChatTool(Lenient):
    type: Literal["function"]
    function: FunctionDefinition


class ChosenFunction(Lenient):
    name: str


class NamedToolChoice(Lenient):
    type: Literal["function"]
    function: ChosenFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class CalledFunction(Lenient):
    name: str
    arguments: str


class MessageToolCall(Lenient):
    """A call an assistant made earlier in the conversation."""

    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


def check_tool_schemas(functions: Sequence[FunctionDefinition]) -> None:
    """OpenAI's 400 for a tool whose parameters are not a JSON Schema, or one that cannot be checked
    safely (a remote or dangling `$ref`, a pattern RE2 cannot run)."""
    tools = tool_definitions(functions)
    problem = invalid_tool_schema(tools) or unsafe_tool_schema(tools)
    if problem is not None:
        index, message = problem
        raise OpenAIError(400, message, param=f"tools[{index}]")


def template_tools(functions: Sequence[FunctionDefinition]) -> list[dict[str, Any]]:
    """Tools as chat templates expect them: OpenAI's nested form."""
    return [{"type": "function", "function": function.model_dump(exclude_none=True)} for function in functions]


def tool_definitions(functions: Sequence[FunctionDefinition]) -> tuple[ToolDefinition, ...]:
    return tuple(ToolDefinition(function.name, function.parameters) for function in functions)


def chosen_functions(
    functions: Sequence[FunctionDefinition], choice: str | None
) -> tuple[list[FunctionDefinition], bool]:
    """The functions the model may call and whether it must call one now. `choice`: "auto" (or None),
    "none", "required", or the name of one function."""
    if choice is None or choice == "auto":
        return list(functions), False
    if choice == "none":
        return [], False
    if choice == "required":
        if not functions:
            raise OpenAIError(400, 'tool_choice "required" needs tools', param="tool_choice")
        return list(functions), True
    named = [function for function in functions if function.name == choice]
    if not named:
        raise OpenAIError(400, f"tool_choice names an unknown function {choice!r}", param="tool_choice")
    return named, True


def _template_arguments(arguments: str) -> Any:
    # Templates print arguments with `tojson`, so they get the object; text that is not JSON stays text.
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def template_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """An earlier call as chat templates expect it: OpenAI's shape with the arguments as an object."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": _template_arguments(arguments)}}


def template_tool_calls(calls: Sequence[MessageToolCall]) -> list[dict[str, Any]]:
    return [template_tool_call(call.id, call.function.name, call.function.arguments) for call in calls]


def new_call_id() -> str:
    return "call_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def call_arguments(call: ParsedToolCall) -> str:
    """The arguments as OpenAI sends them: JSON text (or the model's text when it was not JSON)."""
    if call.invalid_arguments is not None:
        return call.invalid_arguments
    return json.dumps(call.arguments, ensure_ascii=False)
