"""Request bodies of the inference service, parsed as strictly as Paddler parses them: unknown fields,
missing required fields and wrong types are errors (serde's deny_unknown_fields)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from paddler.web.shared.strict_wire_model import StrictWireModel

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class TextPart(StrictWireModel):
    type: Literal["text"]
    text: str


class ImageUrl(StrictWireModel):
    url: str


class ImageUrlPart(StrictWireModel):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImageUrlPart, Field(discriminator="type")]


class ConversationMessage(StrictWireModel):
    role: str
    content: str | list[ContentPart]


class GbnfGrammar(StrictWireModel):
    type: Literal["gbnf"]
    grammar: str
    root: str


class JsonSchemaGrammar(StrictWireModel):
    type: Literal["json_schema"]
    # A string holding JSON, as Paddler defines it.
    schema_: str = Field(alias="schema")


Grammar = Annotated[GbnfGrammar | JsonSchemaGrammar, Field(discriminator="type")]


class ToolParameters(StrictWireModel):
    type: str
    properties: dict[str, object] | None = None
    required: list[str] | None = None
    additionalProperties: object | None = None  # noqa: N815 - the JSON Schema keyword


class ToolFunction(StrictWireModel):
    name: str
    description: str
    parameters: ToolParameters | None = None


class Tool(StrictWireModel):
    type: Literal["function"]
    function: ToolFunction


class ContinueFromConversationHistoryParams(StrictWireModel):
    add_generation_prompt: bool
    conversation_history: list[ConversationMessage]
    enable_thinking: bool
    grammar: Grammar | None = None
    max_tokens: Int32
    parse_tool_calls: bool = False
    tools: list[Tool] = Field(default_factory=list)


class ContinueFromRawPromptParams(StrictWireModel):
    raw_prompt: str
    max_tokens: Int32
    grammar: Grammar | None = None


class EmbeddingInputDocument(StrictWireModel):
    content: str
    id: str


class RmsNormSettings(StrictWireModel):
    # Paddler takes any float; zero or less can take a square root of a negative number (NaN vectors).
    epsilon: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class RmsNorm(StrictWireModel):
    RmsNorm: RmsNormSettings


class WireEmbeddingBatchParams(StrictWireModel):
    """Paddler's GenerateEmbeddingBatchParams as it arrives; the engine's own is in paddler.messages."""

    input_batch: list[EmbeddingInputDocument]
    normalization_method: Literal["L2", "None"] | RmsNorm

    @field_validator("input_batch")
    @classmethod
    def _unique_ids(cls, documents: list[EmbeddingInputDocument]) -> list[EmbeddingInputDocument]:
        # Results are matched to documents by id, so two documents may not share one.
        seen: set[str] = set()
        for document in documents:
            if document.id in seen:
                raise ValueError(f"document id {document.id!r} appears more than once")
            seen.add(document.id)
        return documents


def undefined_required_tool_field(tools: list[Tool]) -> str | None:
    """The first `required` name missing from its tool's `properties` (Paddler refuses those)."""
    for tool in tools:
        parameters = tool.function.parameters
        if parameters is None or parameters.required is None or parameters.properties is None:
            continue
        for name in parameters.required:
            if name not in parameters.properties:
                return name
    return None
