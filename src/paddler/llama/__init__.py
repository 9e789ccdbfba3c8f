"""The hand-written Cython binding to llama.cpp: the only code that touches llama.h and mtmd.h (images),
and where each request's per-token output is kept in C (sequence_output).

Each class owns one llama.cpp handle and frees it once (close(), `with`, or as a last resort when
collected). Every number given to these classes is range-checked before it reaches C.
"""

from paddler.llama.decode_outcome import DecodeOutcome
from paddler.llama.llama_backend import capture_log, ensure_backend, set_log_level, system_info, version
from paddler.llama.llama_batch import LlamaBatch
from paddler.llama.llama_context import LlamaContext
from paddler.llama.llama_error import (
    ClosedHandleError,
    ContextCreateError,
    CorruptModelFileError,
    DecodeError,
    GrammarError,
    InsufficientMemoryError,
    InvalidParameterError,
    KvCacheFullError,
    LlamaError,
    ModelFileNotFoundError,
    ModelLoadCancelledError,
    ModelLoadError,
    ModelPathIsDirectoryError,
    NotAGgufFileError,
    SamplingError,
    TokenizeError,
    UnsupportedArchitectureError,
)
from paddler.llama.llama_json_schema import json_schema_to_grammar
from paddler.llama.llama_model import LlamaModel
from paddler.llama.llama_multimodal import LlamaMultimodal, MultimodalChunks
from paddler.llama.llama_sampler import LlamaSampler, sample_and_push, sample_batch
from paddler.llama.llama_vocab import LlamaVocab
from paddler.llama.sequence_output import SequenceOutput

__all__ = [
    "ClosedHandleError",
    "ContextCreateError",
    "CorruptModelFileError",
    "DecodeError",
    "DecodeOutcome",
    "GrammarError",
    "InsufficientMemoryError",
    "InvalidParameterError",
    "KvCacheFullError",
    "LlamaBatch",
    "LlamaContext",
    "LlamaError",
    "LlamaModel",
    "LlamaMultimodal",
    "LlamaSampler",
    "LlamaVocab",
    "ModelFileNotFoundError",
    "ModelLoadCancelledError",
    "ModelLoadError",
    "ModelPathIsDirectoryError",
    "MultimodalChunks",
    "NotAGgufFileError",
    "SamplingError",
    "SequenceOutput",
    "TokenizeError",
    "UnsupportedArchitectureError",
    "capture_log",
    "ensure_backend",
    "json_schema_to_grammar",
    "sample_and_push",
    "sample_batch",
    "set_log_level",
    "system_info",
    "version",
]
