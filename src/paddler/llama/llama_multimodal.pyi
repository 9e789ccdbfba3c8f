import os
from collections.abc import Sequence
from types import TracebackType

import numpy
import numpy.typing

from paddler.llama.llama_context import LlamaContext
from paddler.llama.llama_model import LlamaModel

MAX_IMAGE_SIDE: int
MAX_PARTS: int
TEXT: str
IMAGE: str
AUDIO: str

class MultimodalChunks:
    count: int
    def __len__(self) -> int: ...
    def kind(self, index: int) -> str: ...
    def text_tokens(self, index: int) -> numpy.typing.NDArray[numpy.int32]: ...
    def n_tokens(self, index: int) -> int: ...
    def n_positions(self, index: int) -> int: ...
    def chunk_id(self, index: int) -> str | None: ...

class LlamaMultimodal:
    model: LlamaModel
    path: str
    def __init__(
        self, model: LlamaModel, path: str | os.PathLike[str], *, n_threads: int | None = None, use_gpu: bool = True
    ) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> LlamaMultimodal: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def supports_vision(self) -> bool: ...
    @property
    def supports_audio(self) -> bool: ...
    @property
    def uses_mrope(self) -> bool: ...
    def tokenize(
        self,
        parts: Sequence[str | tuple[int, int, bytes, str]],
        *,
        add_special: bool = False,
        parse_special: bool = True,
    ) -> MultimodalChunks: ...
    def evaluate_image(
        self, context: LlamaContext, chunks: MultimodalChunks, index: int, n_past: int, seq_id: int, n_batch: int
    ) -> int: ...
