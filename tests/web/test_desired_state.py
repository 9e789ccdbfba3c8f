"""Desired-state checks that need no server: Hugging Face references and the settings a state maps to."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from paddler.engine.engine_settings import EngineSettings
from paddler.web.management.state_application import prepare
from paddler.web.shared.desired_state import (
    HuggingFaceModelReference,
    huggingface_reference_problem,
    parameters_from_settings,
    state_from_settings,
)
from paddler.web.shared.paddler_services import PaddlerServices


@pytest.mark.parametrize(
    ("repo_id", "filename", "revision"),
    [
        ("a/b/c", "model.gguf", "main"),
        ("../x", "model.gguf", "main"),
        ("owner/na me", "model.gguf", "main"),
        ("owner/a--b", "model.gguf", "main"),
        ("owner/name", "../../x", "main"),
        ("owner/name", "/etc/passwd", "main"),
        ("owner/name", "dir//model.gguf", "main"),
        ("owner/name", "dir\\..\\model.gguf", "main"),
        ("owner/name", "", "main"),
        ("owner/name", "model.gguf", "../../refs"),
        ("owner/name", "model.gguf", ""),
    ],
)
def test_references_that_can_never_name_a_file_are_refused(repo_id: str, filename: str, revision: str) -> None:
    reference = HuggingFaceModelReference(repo_id=repo_id, filename=filename, revision=revision)
    assert huggingface_reference_problem(reference) is not None


@pytest.mark.parametrize(
    ("repo_id", "filename", "revision"),
    [
        ("gpt2", "model.gguf", "main"),
        ("bartowski/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct-Q8_0.gguf", "main"),
        ("owner/name.v2", "sub/dir/model-00001-of-00002.gguf", "refs/pr/1"),
    ],
)
def test_references_the_hub_accepts_pass(repo_id: str, filename: str, revision: str) -> None:
    reference = HuggingFaceModelReference(repo_id=repo_id, filename=filename, revision=revision)
    assert huggingface_reference_problem(reference) is None


def test_n_ubatch_comes_back_when_a_larger_n_batch_follows_a_smaller_one(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    command_line = EngineSettings(model, n_batch=2048, n_ubatch=512)
    engine = SimpleNamespace(settings=command_line)
    services = PaddlerServices(cast(Any, engine), allowed_model_dirs=(tmp_path,))
    state = state_from_settings(command_line, None)

    def with_n_batch(n_batch: int) -> Any:
        parameters = parameters_from_settings(command_line).model_copy(update={"n_batch": n_batch})
        return state.model_copy(update={"inference_parameters": parameters})

    small, _ = prepare(services, with_n_batch(64))
    assert (small.n_batch, small.n_ubatch) == (64, 64)
    engine.settings = small  # applied: the engine now runs with it
    large, _ = prepare(services, with_n_batch(2048))
    assert (large.n_batch, large.n_ubatch) == (2048, 512)
