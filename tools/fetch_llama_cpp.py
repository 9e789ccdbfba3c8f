"""Fill vendor/llama.cpp from the pinned llama-cpp-python sdist, which carries llama.cpp's source.

Run by CMake at configure time (and usable by hand). Stdlib only: it runs inside pip's isolated
build environment. The sdist is fetched with pip itself (so no registry address lives here),
checked against a pinned SHA-256, cached in the user cache, and only its `vendor/llama.cpp/`
folder is extracted. Nothing happens when the destination already holds llama.cpp.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST_REQUIREMENT = "llama-cpp-python==0.3.36"
SDIST_NAME = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
MEMBER_PREFIX = "llama_cpp_python-0.3.36/vendor/llama.cpp/"


def user_cache_dir() -> Path:
    override = os.environ.get("PADDLER_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "paddler"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_sdist(download_dir: Path) -> Path:
    print(f"-- paddler: downloading {SDIST_REQUIREMENT} (source of llama.cpp)", flush=True)
    with tempfile.TemporaryDirectory(prefix="paddler-sdist-") as temporary:
        # --no-build-isolation keeps pip from building the sdist's metadata in a fresh env;
        # --no-binary forces the sdist, the only distribution that carries vendor/llama.cpp.
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-build-isolation",
            "--progress-bar",
            "on",
            "-d",
            temporary,
            SDIST_REQUIREMENT,
        ]
        completed = subprocess.run(command, check=False)
        fetched = Path(temporary) / SDIST_NAME
        if not fetched.is_file():
            raise SystemExit(
                f"paddler: pip download failed (exit {completed.returncode}); "
                "set LLAMA_CPP_DIR to a llama.cpp checkout to build without it"
            )
        download_dir.mkdir(parents=True, exist_ok=True)
        cached = download_dir / SDIST_NAME
        shutil.move(str(fetched), cached)
    return cached


def cached_sdist() -> Path:
    """The verified sdist from the user cache, downloading it on first use."""
    cached = user_cache_dir() / "downloads" / SDIST_NAME
    if not cached.is_file():
        cached = _download_sdist(cached.parent)
    actual = sha256_of(cached)
    if actual != SDIST_SHA256:
        cached.unlink()
        raise SystemExit(
            f"paddler: {SDIST_NAME} has sha256 {actual}, expected {SDIST_SHA256}; "
            "the cached copy was removed, run the build again"
        )
    return cached


def _members_under_prefix(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for member in archive.getmembers():
        if member.name.startswith(MEMBER_PREFIX):
            member.name = member.name[len(MEMBER_PREFIX) :]
            if member.name:
                members.append(member)
    return members


def extract_llama_cpp(sdist: Path, destination: Path) -> None:
    print(f"-- paddler: extracting llama.cpp into {destination}", flush=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".llama.cpp-", dir=destination.parent))
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            archive.extractall(staging, members=_members_under_prefix(archive), filter="data")
        if not (staging / "include" / "llama.h").is_file():
            raise SystemExit(f"paddler: {SDIST_NAME} holds no llama.cpp under {MEMBER_PREFIX}")
        staging.rename(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def is_llama_cpp_tree(path: Path) -> bool:
    return (path / "include" / "llama.h").is_file() and (path / "CMakeLists.txt").is_file()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("destination", type=Path, help="folder to fill, e.g. vendor/llama.cpp")
    destination = parser.parse_args().destination.resolve()
    if is_llama_cpp_tree(destination):
        return
    if destination.exists():
        raise SystemExit(f"paddler: {destination} exists but holds no llama.cpp; remove it")
    extract_llama_cpp(cached_sdist(), destination)


if __name__ == "__main__":
    main()
