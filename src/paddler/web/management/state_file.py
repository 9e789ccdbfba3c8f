"""Where the desired state survives a restart: one JSON file, replaced atomically and durably."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from paddler.web.shared.desired_state import BalancerDesiredState


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_state(path: Path, state: BalancerDesiredState) -> None:
    """Write a temporary file, fsync it, rename it over the old one and fsync the folder: after a crash
    or power loss the file holds the previous state or this one, never a torn mix. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(state.model_dump(mode="json"), stream, indent=2)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def load_state(path: Path) -> BalancerDesiredState | None:
    """The saved state, or None when there is none; raises OSError or ValueError for an unreadable one."""
    if not path.is_file():
        return None
    return BalancerDesiredState.model_validate_json(path.read_text(encoding="utf-8"))
