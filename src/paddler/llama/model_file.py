"""Checks on a model path made in Python before llama.cpp opens it, so each failure has its own error.

llama.cpp answers every unreadable file with the same NULL; these checks name the cause and keep
llama.cpp from ever opening a FIFO (which would block) or a device.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from paddler.llama.llama_error import (
    CorruptModelFileError,
    InvalidParameterError,
    ModelFileNotFoundError,
    ModelPathIsDirectoryError,
    NotAGgufFileError,
)

GGUF_MAGIC = b"GGUF"
SUPPORTED_GGUF_VERSIONS = (2, 3)
_HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, metadata key/value count


def check_model_file(path: str | os.PathLike[str]) -> Path:
    """Return the path when it names a readable GGUF file; raise the matching ModelLoadError if not."""
    text = os.fspath(path)
    if "\x00" in text:
        raise InvalidParameterError("model path contains a NUL character")
    model_path = Path(text)
    try:
        status = model_path.stat()
    except FileNotFoundError:
        raise ModelFileNotFoundError(f"model file not found: {model_path}") from None
    if stat.S_ISDIR(status.st_mode):
        raise ModelPathIsDirectoryError(f"model path is a directory, not a GGUF file: {model_path}")
    if not stat.S_ISREG(status.st_mode):
        raise NotAGgufFileError(f"model path is not a regular file: {model_path}")
    _check_header(model_path, status.st_size)
    return model_path


def _check_header(model_path: Path, size: int) -> None:
    with model_path.open("rb") as stream:
        header = stream.read(_HEADER.size)
    if header[:4] != GGUF_MAGIC:
        raise NotAGgufFileError(f"not a GGUF file (bad magic): {model_path}")
    if len(header) < _HEADER.size:
        raise CorruptModelFileError(f"GGUF file is truncated ({size} bytes): {model_path}")
    _, version, _, _ = _HEADER.unpack(header)
    if version not in SUPPORTED_GGUF_VERSIONS:
        raise CorruptModelFileError(f"unsupported GGUF version {version}: {model_path}")
