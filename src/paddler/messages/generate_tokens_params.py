"""A validated request for token generation from an already-rendered prompt."""

from __future__ import annotations

from dataclasses import dataclass

from paddler.messages.prompt_image import PromptImage
from paddler.messages.sampling_params import SamplingParams

MAX_TOP_LOGPROBS = 20
MAX_LOGIT_BIASES = 1024


@dataclass(frozen=True, slots=True)
class GrammarConstraint:
    """A GBNF grammar; generation may only produce text it accepts."""

    grammar: str
    root: str = "root"


@dataclass(frozen=True, slots=True)
class JsonSchemaConstraint:
    """A JSON Schema (as JSON text); generation may only produce JSON documents it describes."""

    schema: str


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    name: str
    # The JSON Schema its arguments must satisfy; None accepts any arguments.
    parameters: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class GenerateTokensParams:
    prompt: str
    # Paddler's rule: 0 or less still yields one token. None: until the end of generation or of the slot.
    max_tokens: int | None
    # None: the engine's configured defaults.
    sampling: SamplingParams | None = None
    grammar: GrammarConstraint | JsonSchemaConstraint | None = None
    # llama-server's ignore_eos: end-of-generation tokens are never sampled, so exactly max_tokens come.
    ignore_eog: bool = False
    # The chat template whose thinking and tool-call markers classify the output; None: no markers, so
    # every token is undeterminable.
    chat_template: str | None = None
    tools: tuple[ToolDefinition, ...] = ()
    # Parse each tool-call block into a ToolCallEvent, its arguments checked against the tool's schema.
    parse_tool_calls: bool = False
    # Make the model call one of `tools` now, through a grammar over the template's tool-call markers
    # (OpenAI's tool_choice "required"); not together with `grammar`.
    force_tool_call: bool = False
    # Added to the logits of these token ids before sampling (OpenAI's logit_bias; -inf forbids a token).
    logit_bias: tuple[tuple[int, float], ...] = ()
    # Report each streamed token's log-probability and this many likeliest alternatives (0 to
    # MAX_TOP_LOGPROBS); None reports none.
    top_logprobs: int | None = None
    # The images of the prompt, in order: each stands where `prompt` holds IMAGE_MARKER.
    images: tuple[PromptImage, ...] = ()
