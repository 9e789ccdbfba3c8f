"""Messages into the engine thread: the only way other threads talk to it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from paddler.engine.prompt_media import PromptMedia
from paddler.engine.result_stream import ResultStream
from paddler.engine.token_markers import NO_MARKERS, TokenMarkers
from paddler.messages.embedding_normalization import EmbeddingNormalization
from paddler.messages.embedding_result import EmbeddingResult
from paddler.messages.generate_tokens_params import GrammarConstraint, ToolDefinition
from paddler.messages.generated_token_result import GeneratedTokenResult
from paddler.messages.sampling_params import SamplingParams


@dataclass(frozen=True, slots=True)
class GenerateTokensCommand:
    request_id: str
    prompt_tokens: tuple[int, ...]
    max_tokens: int | None
    sampling: SamplingParams
    grammar: GrammarConstraint | None
    ignore_eog: bool
    stream: ResultStream[GeneratedTokenResult]
    markers: TokenMarkers = NO_MARKERS
    tools: tuple[ToolDefinition, ...] = ()
    parse_tool_calls: bool = False
    logit_bias: tuple[tuple[int, float], ...] = ()
    top_logprobs: int | None = None
    # The prompt's images, where prompt_tokens holds their pseudo-tokens; None for a text prompt.
    media: PromptMedia | None = None
    submitted_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class TokenizedDocument:
    id: str
    tokens: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GenerateEmbeddingBatchCommand:
    request_id: str
    documents: tuple[TokenizedDocument, ...]
    normalization: EmbeddingNormalization
    stream: ResultStream[EmbeddingResult]


@dataclass(frozen=True, slots=True)
class CancelCommand:
    request_id: str


@dataclass(frozen=True, slots=True)
class StopCommand:
    # time.monotonic() by which running requests must have ended.
    deadline: float


# The commands that ask for work, each answered on its own stream.
WorkCommand = GenerateTokensCommand | GenerateEmbeddingBatchCommand
SchedulerCommand = WorkCommand | CancelCommand | StopCommand
