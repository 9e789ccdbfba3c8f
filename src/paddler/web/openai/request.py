"""What every OpenAI request shares on its way to the engine: lenient parsing (unknown fields are
ignored, as OpenAI does), the one model id this server answers to, per-request sampling over the
server's defaults, and a conversation rendered through the chat template with the offered tools."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paddler.messages.generate_tokens_params import (
    MAX_LOGIT_BIASES,
    GenerateTokensParams,
    JsonSchemaConstraint,
    ToolDefinition,
)
from paddler.messages.prompt_image import PromptImage
from paddler.messages.sampling_params import SamplingParams
from paddler.web.openai.error import OpenAIError, from_validation_error
from paddler.web.shared.chat_template import ChatTemplateError, render_chat_prompt
from paddler.web.shared.image_input import ImageCollector, ImageInputError
from paddler.web.shared.json_checks import DuplicateKeyError, Model, NestingTooDeepError, validated_body
from paddler.web.shared.paddler_services import NO_CHAT_TEMPLATE, PaddlerServices

TokenLimit = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Lenient(BaseModel):
    """Unknown fields are ignored, as OpenAI does; known ones must have their type (no "5" or true for
    a number)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class ImageUrl(Lenient):
    url: str


class ContentPart(Lenient):
    """One part of a message's content, in the chat or the Responses form."""

    type: str
    text: str | None = None
    refusal: str | None = None
    # Chat's {"image_url": {"url": …}}, Responses' {"image_url": "…"}.
    image_url: ImageUrl | str | None = None

    @property
    def image_location(self) -> str | None:
        return self.image_url.url if isinstance(self.image_url, ImageUrl) else self.image_url


_TEXT_PARTS = frozenset({"text", "input_text", "output_text", "summary_text"})
_MEDIA_PARTS = frozenset({"image_url", "input_image", "input_audio", "input_file", "file"})
_IMAGE_PARTS = frozenset({"image_url", "input_image"})


def _image_text(images: ImageCollector, location: str, param: str) -> str:
    try:
        return images.add(location)
    except ImageInputError as error:
        raise OpenAIError(400, f"invalid image: {error}", code="invalid_image", param=param) from None


def content_text(content: str | list[ContentPart] | None, param: str, images: ImageCollector | None = None) -> str:
    """A message's text, each image standing as IMAGE_MARKER when `images` collects them; other media
    parts, and images for a model that reads none, are a 400; unknown parts are skipped."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        location = part.image_location if part.type in _IMAGE_PARTS else None
        if images is not None and location is not None:
            texts.append(_image_text(images, location, param))
            continue
        if part.type in _MEDIA_PARTS:
            raise OpenAIError(400, f"{part.type} content is not supported: this model reads text only", param=param)
        if part.type in _TEXT_PARTS and part.text is not None:
            texts.append(part.text)
        elif part.type == "refusal" and part.refusal is not None:
            texts.append(part.refusal)
    return "".join(texts)


class SamplingFields(Lenient):
    """The model and the sampling overrides every OpenAI generation request may carry."""

    model: str
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 2)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    # Token id (as text, OpenAI's form) to a bias added to its logit; ids are checked against the vocabulary.
    logit_bias: (
        Annotated[
            dict[Annotated[str, Field(pattern=r"^[0-9]{1,9}$")], Annotated[float, Field(ge=-100, le=100)]],
            Field(max_length=MAX_LOGIT_BIASES),
        ]
        | None
    ) = None
    # llama-server's extension: never sample an end-of-generation token.
    ignore_eos: bool = False

    @property
    def logit_biases(self) -> tuple[tuple[int, float], ...]:
        return tuple((int(token), bias) for token, bias in (self.logit_bias or {}).items())


def parse_openai_body(model: type[Model]) -> Model:
    """The request body as `model`, or a 400 in OpenAI's shape naming the first problem."""
    try:
        return validated_body(model, request.get_data(cache=False) or b"")
    except NestingTooDeepError as error:
        raise OpenAIError(400, str(error)) from None
    except DuplicateKeyError as error:
        raise OpenAIError(400, str(error), param=error.key) from None
    except ValidationError as error:
        raise from_validation_error(error) from None


def served_model_id(services: PaddlerServices) -> str:
    """The one model id this server answers to: its name, else the model file's name."""
    return services.name or Path(services.engine.settings.model_path).stem


def check_model(model: str, services: PaddlerServices) -> None:
    """OpenAI's 404 for a model this server does not serve. The model file's name is always taken too: in a
    fleet, agents named apart serve one model under one id."""
    served = served_model_id(services)
    if model not in (served, Path(services.engine.settings.model_path).stem):
        raise OpenAIError(
            404,
            f"The model `{model}` does not exist; this server serves `{served}` (see GET /v1/models)",
            code="model_not_found",
            param="model",
        )


def sampling_for(fields: SamplingFields, defaults: SamplingParams) -> SamplingParams:
    overrides: dict[str, Any] = {}
    for field, value in (
        ("temperature", fields.temperature),
        ("top_p", fields.top_p),
        ("seed", fields.seed),
        ("penalty_presence", fields.presence_penalty),
        ("penalty_frequency", fields.frequency_penalty),
    ):
        if value is not None:
            overrides[field] = value
    return replace(defaults, **overrides)


def format_grammar(kind: str, schema: dict[str, Any] | None, param: str) -> JsonSchemaConstraint | None:
    """The grammar of a requested output format ("text", "json_object" or "json_schema")."""
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonSchemaConstraint('{"type": "object"}')
    if schema is None:
        raise OpenAIError(400, "a json_schema response format needs a schema", param=param)
    return JsonSchemaConstraint(json.dumps(schema))


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation ready for the chat template, and how the model may answer it."""

    messages: list[dict[str, Any]]
    # Tools in OpenAI's nested form for the template, and what the engine checks calls against.
    template_tools: list[dict[str, Any]]
    tools: tuple[ToolDefinition, ...]
    force_tool_call: bool
    grammar: JsonSchemaConstraint | None
    max_tokens: int | None
    thinking: bool = True
    top_logprobs: int | None = None
    # The images the messages hold, in order (each an IMAGE_MARKER in their text).
    images: tuple[PromptImage, ...] = ()


def render_conversation(conversation: Conversation, services: PaddlerServices) -> str:
    """The prompt the chat template makes of the conversation. Raises OpenAIError: 400 for a conversation
    the template refuses, 503 while the model loads."""
    info = services.serving_engine().model_info
    if info is None:
        raise OpenAIError(503, "the model is loading")
    template = services.chat_template
    if template is None:
        raise OpenAIError(400, NO_CHAT_TEMPLATE, code="chat_template_missing", param="messages")
    try:
        return render_chat_prompt(
            template,
            conversation.messages,
            add_generation_prompt=True,
            # A grammar constrains the output from its first token, leaving no room for thinking.
            enable_thinking=conversation.thinking and conversation.grammar is None and not conversation.force_tool_call,
            tools=conversation.template_tools,
            bos_token=info.bos_text,
            eos_token=info.eos_text,
        )
    except ChatTemplateError as error:
        raise OpenAIError(400, str(error), param="messages") from None


def conversation_generation(
    conversation: Conversation, fields: SamplingFields, services: PaddlerServices
) -> GenerateTokensParams:
    """Raises OpenAIError as render_conversation, and 400 for a required call with a response format."""
    if conversation.force_tool_call and conversation.grammar is not None:
        raise OpenAIError(400, "a required tool call cannot be combined with a response format", param="tool_choice")
    prompt = render_conversation(conversation, services)
    return GenerateTokensParams(
        prompt=prompt,
        max_tokens=conversation.max_tokens,
        sampling=sampling_for(fields, services.engine.settings.sampling),
        grammar=conversation.grammar,
        ignore_eog=fields.ignore_eos,
        chat_template=services.chat_template,
        tools=conversation.tools,
        parse_tool_calls=bool(conversation.tools),
        force_tool_call=conversation.force_tool_call,
        logit_bias=fields.logit_biases,
        top_logprobs=conversation.top_logprobs,
        images=conversation.images,
    )
