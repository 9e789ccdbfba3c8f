"""From a validated wire request to what the engine runs — or to the terminal result Paddler gives
before any generation starts (checked in Paddler's order)."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Response

from paddler.engine.engine_errors import EngineUnavailableError, InvalidRequestError, RequestTooLargeError
from paddler.engine.parse_tool_calls import invalid_tool_schema, unsafe_tool_schema
from paddler.engine.result_stream import ResultStream
from paddler.messages.generate_tokens_params import (
    GenerateTokensParams,
    GrammarConstraint,
    JsonSchemaConstraint,
    ToolDefinition,
)
from paddler.messages.generated_token_result import GeneratedTokenResult, GenerationErrorKind, GenerationFailed
from paddler.web.inference.ndjson_stream import ndjson_response, single_line_response
from paddler.web.inference.wire_params import (
    ContinueFromConversationHistoryParams,
    ContinueFromRawPromptParams,
    ConversationMessage,
    GbnfGrammar,
    Grammar,
    TextPart,
    Tool,
    undefined_required_tool_field,
)
from paddler.web.inference.wire_results import token_result_line
from paddler.web.shared.api_error import ApiError
from paddler.web.shared.chat_template import ChatTemplateError, render_chat_prompt
from paddler.web.shared.image_input import ImageCollector, ImageInputError
from paddler.web.shared.paddler_services import NO_CHAT_TEMPLATE, PaddlerServices
from paddler.web.shared.request_id import new_request_id

GENERATION_DISABLED = "Token generation is disabled while the cluster is configured for embeddings"


def _wire_grammar(grammar: Grammar | None) -> GrammarConstraint | JsonSchemaConstraint | None:
    if grammar is None:
        return None
    if isinstance(grammar, GbnfGrammar):
        return GrammarConstraint(grammar.grammar, grammar.root)
    return JsonSchemaConstraint(grammar.schema_)


def raw_prompt_generation(params: ContinueFromRawPromptParams, services: PaddlerServices) -> GenerateTokensParams:
    # The model's template still names the markers that classify the output, as in Paddler.
    return GenerateTokensParams(
        prompt=params.raw_prompt,
        max_tokens=params.max_tokens,
        grammar=_wire_grammar(params.grammar),
        chat_template=services.chat_template,
    )


def _history_message(message: ConversationMessage, images: ImageCollector | None) -> dict[str, Any]:
    """The message for the template: its text parts joined, each image an IMAGE_MARKER (when `images`
    collects them). Raises ApiError 400 for an image that cannot be read."""
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    texts = []
    for part in message.content:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif images is not None:
            try:
                texts.append(images.add(part.image_url.url))
            except ImageInputError as error:
                raise ApiError(400, f"failed to decode images: {error}") from None
    return {"role": message.role, "content": "".join(texts)}


def _has_images(params: ContinueFromConversationHistoryParams) -> bool:
    return any(
        not isinstance(message.content, str) and any(not isinstance(part, TextPart) for part in message.content)
        for message in params.conversation_history
    )


def history_generation(
    params: ContinueFromConversationHistoryParams, services: PaddlerServices
) -> GenerateTokensParams | GenerationFailed:
    if params.grammar is not None and params.enable_thinking:
        return GenerationFailed(
            GenerationErrorKind.GRAMMAR_INCOMPATIBLE_WITH_THINKING,
            "Grammar constraints are incompatible with thinking mode",
        )
    grammar = _wire_grammar(params.grammar)
    images = services.image_collector()
    if images is None and _has_images(params):
        return GenerationFailed(
            GenerationErrorKind.MULTIMODAL_NOT_SUPPORTED, "received images but model does not support multimodal input"
        )
    info = services.serving_engine().model_info
    if info is None:
        raise ApiError(503, "the model is still loading")
    template = services.chat_template
    if template is None:
        return GenerationFailed(GenerationErrorKind.CHAT_TEMPLATE_ERROR, NO_CHAT_TEMPLATE)
    try:
        prompt = render_chat_prompt(
            template,
            [_history_message(message, images) for message in params.conversation_history],
            add_generation_prompt=params.add_generation_prompt,
            enable_thinking=params.enable_thinking,
            tools=[tool.model_dump(mode="json", exclude_none=True) for tool in params.tools],
            bos_token=info.bos_text,
            eos_token=info.eos_text,
        )
    except ChatTemplateError as error:
        return GenerationFailed(GenerationErrorKind.CHAT_TEMPLATE_ERROR, f"failed to render chat template: {error}")
    tools = tuple(
        ToolDefinition(
            tool.function.name,
            None
            if tool.function.parameters is None
            else tool.function.parameters.model_dump(mode="json", exclude_none=True),
        )
        for tool in params.tools
    )
    parse_tool_calls = params.parse_tool_calls and bool(tools)
    if parse_tool_calls:
        invalid = _invalid_tool_schema(tools)
        if invalid is not None:
            return invalid
        unsafe = unsafe_tool_schema(tools)
        if unsafe is not None:
            raise ApiError(400, f"Invalid request parameters: {unsafe[1]}")
    return GenerateTokensParams(
        prompt=prompt,
        max_tokens=params.max_tokens,
        grammar=grammar,
        chat_template=template,
        tools=tools,
        parse_tool_calls=parse_tool_calls,
        images=() if images is None else tuple(images.images),
    )


def _invalid_tool_schema(tools: tuple[ToolDefinition, ...]) -> GenerationFailed | None:
    problem = invalid_tool_schema(tools)
    return None if problem is None else GenerationFailed(GenerationErrorKind.TOOL_SCHEMA_INVALID, problem[1])


def submit_paddler_generation(
    services: PaddlerServices, params: GenerateTokensParams
) -> ResultStream[GeneratedTokenResult]:
    """Queue the generation; what can never run is an ApiError (400 too large, 503 not serving)."""
    try:
        return services.submit_generation(params)
    except (RequestTooLargeError, InvalidRequestError) as error:
        raise ApiError(400, str(error)) from None
    except EngineUnavailableError as error:
        raise ApiError(503, str(error)) from None


def generation_response(services: PaddlerServices, generation: GenerateTokensParams | GenerationFailed) -> Response:
    """The NDJSON response of a prepared generation: one line for a failure found before it started,
    else its stream."""
    request_id = new_request_id()
    line = partial(token_result_line, request_id, services.name)
    if isinstance(generation, GenerationFailed):
        return single_line_response(line(generation))
    return ndjson_response(submit_paddler_generation(services, generation), line)


def require_generation(services: PaddlerServices) -> None:
    if not services.engine.settings.enable_generation:
        raise ApiError(501, GENERATION_DISABLED)


def tool_schema_problem(tools: list[Tool]) -> str | None:
    """Paddler's 400 message for a tool whose `required` names a field it does not define."""
    missing = undefined_required_tool_field(tools)
    if missing is None:
        return None
    return f"Invalid request parameters: Required field '{missing}' not found in properties"
