"""The state file is replaced atomically and durably: fsync of the file and of its folder, then rename."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paddler.engine.engine_settings import EngineSettings
from paddler.messages.sampling_params import SamplingParams
from paddler.web.management.state_file import load_state, save_state
from paddler.web.shared.desired_state import BalancerDesiredState, state_from_settings


def _state(top_k: int) -> BalancerDesiredState:
    return state_from_settings(EngineSettings(Path("/models/m.gguf"), sampling=SamplingParams(top_k=top_k)), None)


def test_a_saved_state_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.json"
    state = _state(7)
    save_state(path, state)
    assert load_state(path) == state
    assert load_state(tmp_path / "absent.json") is None


def test_the_file_and_its_folder_are_synced_before_the_state_counts_as_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{descriptor}").readlink()))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    path = tmp_path / "state.json"
    save_state(path, _state(7))
    assert len(synced) == 2
    assert Path(synced[0]).parent == tmp_path, "the new file, before the rename"
    assert synced[0].endswith(".tmp")
    assert synced[1] == str(tmp_path), "then the folder, so the rename itself survives a crash"


def test_a_failed_write_leaves_the_previous_state_and_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    save_state(path, _state(7))

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        save_state(path, _state(8))
    monkeypatch.undo()
    loaded = load_state(path)
    assert loaded is not None
    assert loaded.inference_parameters.top_k == 7
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["state.json"]
