"""The one exception hierarchy of the binding: every failure of llama.cpp surfaces as one of these."""

from __future__ import annotations


class LlamaError(Exception):
    """Base of every error raised by paddler.llama."""


class InvalidParameterError(LlamaError, ValueError):
    """A number or option given to the binding is out of range; checked before it reaches C."""


class ModelLoadError(LlamaError):
    """The model could not be loaded."""


class ModelFileNotFoundError(ModelLoadError, FileNotFoundError):
    """No file exists at the model path."""


class ModelPathIsDirectoryError(ModelLoadError, IsADirectoryError):
    """The model path names a directory."""


class NotAGgufFileError(ModelLoadError):
    """The file is not a GGUF file (wrong magic) or not a regular file."""


class CorruptModelFileError(ModelLoadError):
    """The file claims to be GGUF but is truncated, of an unknown version, or otherwise unreadable."""


class UnsupportedArchitectureError(ModelLoadError):
    """The GGUF names a model architecture this llama.cpp cannot run."""


class ModelLoadCancelledError(ModelLoadError):
    """The progress callback asked to stop loading."""


class ContextCreateError(LlamaError):
    """llama.cpp could not create an inference context."""


class InsufficientMemoryError(ContextCreateError, MemoryError):
    """The requested context (KV cache) does not fit in the memory that is available."""


class TokenizeError(LlamaError):
    """Text could not be turned into tokens, or tokens into text."""


class DecodeError(LlamaError):
    """llama_decode failed in a way the caller cannot recover from by retrying or evicting."""


class KvCacheFullError(DecodeError):
    """The KV cache had no room for what was to be written (an image); freeing cells and retrying works."""


class GrammarError(LlamaError, ValueError):
    """A GBNF grammar could not be parsed; the message carries llama.cpp's reason."""


class SamplingError(LlamaError):
    """No token could be sampled, or a token could not be accepted (e.g. the grammar forbids it)."""


class ClosedHandleError(LlamaError):
    """The object's llama.cpp handle was already freed with close()."""
