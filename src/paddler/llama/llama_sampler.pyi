from collections.abc import Sequence
from types import TracebackType

from paddler.llama.llama_context import LlamaContext
from paddler.llama.llama_vocab import LlamaVocab
from paddler.llama.sequence_output import SequenceOutput

MAX_GRAMMAR_BYTES: int
MAX_GRAMMAR_NESTING: int
MAX_PENALTY_LAST_N: int

class LlamaSampler:
    vocab: LlamaVocab
    seed: int | None
    def __init__(
        self,
        vocab: LlamaVocab,
        *,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: int | None = None,
        grammar: str | None = None,
        grammar_root: str = "root",
        logit_bias: dict[int, float] | None = None,
    ) -> None: ...
    def sample(self, context: LlamaContext, batch_index: int) -> int: ...
    def accept(self, token: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def has_grammar(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> LlamaSampler: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

def sample_batch(
    context: LlamaContext, samplers: Sequence[LlamaSampler], batch_indices: Sequence[int]
) -> tuple[list[int], dict[int, str]]: ...
def sample_and_push(
    context: LlamaContext,
    samplers: Sequence[LlamaSampler],
    batch_indices: Sequence[int],
    outputs: Sequence[SequenceOutput],
) -> tuple[list[int], dict[int, str], list[int]]: ...
