"""What a token-generation stream carries: tokens, then exactly one terminal result."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from paddler.messages.request_rejected import RequestRejected
from paddler.messages.token_usage import TokenUsage


class TokenKind(Enum):
    """Which section of the output a token belongs to; the values are Paddler's wire names."""

    CONTENT = "ContentToken"
    REASONING = "ReasoningToken"
    TOOL_CALL = "ToolCallToken"
    UNDETERMINABLE = "UndeterminableToken"


class GenerationErrorKind(Enum):
    """Terminal failures of one generation; the values are Paddler's wire names."""

    SAMPLER_ERROR = "SamplerError"
    GRAMMAR_INITIALIZATION_FAILED = "GrammarInitializationFailed"
    GRAMMAR_REJECTED_MODEL_OUTPUT = "GrammarRejectedModelOutput"
    GRAMMAR_SYNTAX_ERROR = "GrammarSyntaxError"
    GRAMMAR_INCOMPATIBLE_WITH_THINKING = "GrammarIncompatibleWithThinking"
    CHAT_TEMPLATE_ERROR = "ChatTemplateError"
    DETOKENIZATION_FAILED = "DetokenizationFailed"
    TOKEN_GENERATION_DISABLED = "TokenGenerationDisabled"
    MULTIMODAL_NOT_SUPPORTED = "MultimodalNotSupported"
    TOOL_SCHEMA_INVALID = "ToolSchemaInvalid"


@dataclass(frozen=True, slots=True)
class GeneratedToken:
    kind: TokenKind
    text: str

    @property
    def is_terminal(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One streamed token's log-probability under the model (raw logits, before sampling settings),
    with the likeliest alternatives; sent just before the text the token completes."""

    kind: TokenKind
    token: bytes
    logprob: float
    top: tuple[tuple[bytes, float], ...] = ()

    @property
    def is_terminal(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class GenerationDone:
    usage: TokenUsage

    @property
    def is_terminal(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class GenerationFailed:
    kind: GenerationErrorKind
    message: str

    @property
    def is_terminal(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class ParsedToolCall:
    id: str
    name: str
    # The arguments as JSON, or None with the raw text in invalid_arguments when they are not JSON.
    arguments: object
    invalid_arguments: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """The outcome of parsing one tool-call block (with parse_tool_calls); the stream goes on after it.
    kind: ToolCallParsed (calls), ToolCallValidationFailed (errors), UnrecognizedToolCallFormat (text,
    errors[0] the reason) or ToolCallParseFailed (errors[0])."""

    kind: str
    calls: tuple[ParsedToolCall, ...] = ()
    errors: tuple[str, ...] = ()
    text: str = ""

    @property
    def is_terminal(self) -> bool:
        return False


GeneratedTokenResult = (
    GeneratedToken | TokenLogprob | ToolCallEvent | GenerationDone | GenerationFailed | RequestRejected
)
