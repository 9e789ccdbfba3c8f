"""Every way a model path can be wrong gives its own exception, and the process carries on."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from paddler.llama import (
    CorruptModelFileError,
    InvalidParameterError,
    LlamaModel,
    ModelFileNotFoundError,
    ModelLoadCancelledError,
    ModelLoadError,
    ModelPathIsDirectoryError,
    NotAGgufFileError,
    UnsupportedArchitectureError,
)

GGUF_STRING_TYPE = 8


def _gguf_string(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("<Q", len(encoded)) + encoded


def _write_gguf_with_metadata(path: Path, metadata: dict[str, str]) -> None:
    """A valid GGUF v3 container with string metadata and no tensors."""
    body = b"".join(
        _gguf_string(key) + struct.pack("<I", GGUF_STRING_TYPE) + _gguf_string(value) for key, value in metadata.items()
    )
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata)) + body)


def _loads_after_failure(vocab_models_dir: Path) -> None:
    with LlamaModel(vocab_models_dir / "ggml-vocab-gpt-2.gguf", vocab_only=True) as model:
        assert model.vocab.tokenize("still alive", add_special=False)


def test_missing_file(tmp_path: Path, vocab_models_dir: Path) -> None:
    with pytest.raises(ModelFileNotFoundError, match="not found"):
        LlamaModel(tmp_path / "absent.gguf")
    with pytest.raises(FileNotFoundError):  # also a standard OSError subclass
        LlamaModel(tmp_path / "absent.gguf")
    _loads_after_failure(vocab_models_dir)


def test_directory(tmp_path: Path, vocab_models_dir: Path) -> None:
    with pytest.raises(ModelPathIsDirectoryError, match="directory"):
        LlamaModel(tmp_path)
    _loads_after_failure(vocab_models_dir)


def test_text_file_is_not_a_gguf(tmp_path: Path, vocab_models_dir: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("this is not a valid gguf model file")
    with pytest.raises(NotAGgufFileError, match="bad magic"):
        LlamaModel(path)
    _loads_after_failure(vocab_models_dir)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.touch()
    with pytest.raises(NotAGgufFileError):
        LlamaModel(path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.gguf"
    os.mkfifo(path)
    with pytest.raises(NotAGgufFileError, match="regular file"):
        LlamaModel(path)


def test_unknown_gguf_version(tmp_path: Path) -> None:
    path = tmp_path / "future.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 99, 0, 0))
    with pytest.raises(CorruptModelFileError, match="version 99"):
        LlamaModel(path)


@pytest.mark.parametrize("kept_fraction", [0.0005, 0.01, 0.5, 0.99])
def test_truncated_gguf(tmp_path: Path, default_model_path: Path, vocab_models_dir: Path, kept_fraction: float) -> None:
    data = default_model_path.read_bytes()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[: int(len(data) * kept_fraction)])
    with pytest.raises(CorruptModelFileError):
        LlamaModel(path)
    _loads_after_failure(vocab_models_dir)


def test_corrupt_metadata_count(tmp_path: Path) -> None:
    path = tmp_path / "lying.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2**63 - 1) + b"\x00" * 64)
    with pytest.raises(CorruptModelFileError):
        LlamaModel(path)


def test_unsupported_architecture(tmp_path: Path, vocab_models_dir: Path) -> None:
    path = tmp_path / "alien.gguf"
    _write_gguf_with_metadata(path, {"general.architecture": "martian-transformer"})
    with pytest.raises(UnsupportedArchitectureError, match="martian-transformer"):
        LlamaModel(path)
    _loads_after_failure(vocab_models_dir)


def test_nul_in_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="NUL"):
        LlamaModel(f"{tmp_path}/a\x00b.gguf")


@pytest.mark.parametrize("n_gpu_layers", [-2, 10**6])
def test_gpu_layer_count_is_range_checked(default_model_path: Path, n_gpu_layers: int) -> None:
    with pytest.raises(InvalidParameterError, match="n_gpu_layers"):
        LlamaModel(default_model_path, n_gpu_layers=n_gpu_layers)


def test_progress_callback_can_cancel(default_model_path: Path) -> None:
    reports: list[float] = []

    def stop_at_first_report(progress: float) -> bool:
        reports.append(progress)
        return False

    with pytest.raises(ModelLoadCancelledError):
        LlamaModel(default_model_path, progress=stop_at_first_report)
    assert reports == [reports[0]]


def test_progress_callback_error_is_chained(default_model_path: Path) -> None:
    def broken(progress: float) -> bool:
        raise RuntimeError("progress display broke")

    with pytest.raises(ModelLoadError) as caught:
        LlamaModel(default_model_path, progress=broken)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_progress_reaches_one(default_model_path: Path) -> None:
    reports: list[float] = []

    def record(progress: float) -> bool:
        reports.append(progress)
        return True

    with LlamaModel(default_model_path, progress=record):
        pass
    assert reports[-1] == pytest.approx(1.0)
    assert reports == sorted(reports)
