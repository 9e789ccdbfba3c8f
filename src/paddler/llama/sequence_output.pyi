from collections.abc import Iterable, Sequence

from paddler.llama.llama_vocab import LlamaVocab

SECTION_PENDING: int
SECTION_CONTENT: int
SECTION_REASONING: int
SECTION_TOOL_CALL: int
TEXT: int
END_OF_GENERATION: int
BUDGET_SPENT: int
TOOL_CALLS: int

class SequenceOutput:
    vocab: LlamaVocab
    def __init__(
        self,
        vocab: LlamaVocab,
        markers: Sequence[Sequence[int] | None],
        budget: int = -1,
        *,
        keep_tool_call_bytes: bool = False,
    ) -> None: ...
    def replay(self, tokens: Iterable[int]) -> None: ...
    def push(self, token: int) -> int: ...
    def finish(self) -> int: ...
    def flush_tail(self) -> str: ...
    def texts(self) -> list[tuple[int, str]]: ...
    def decided(self) -> list[tuple[int, int, bool, str]]: ...
    def take_tool_call_bytes(self) -> bytes: ...
    @property
    def section(self) -> int: ...
    @property
    def counts(self) -> tuple[int, int, int, int]: ...
