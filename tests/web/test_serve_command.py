"""`paddler serve`: its help names every option, and a model that cannot load ends it with the reason."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from paddler.engine.engine_settings import KvLayout
from paddler.startup.serve_options import add_serve_options, serve_settings

from .conftest import free_port

SERVE_OPTIONS = [
    "--model",
    "--slots",
    "--context-size",
    "--kv-layout",
    "--n-batch",
    "--threads",
    "--n-gpu-layers",
    "--inference-addr",
    "--management-addr",
    "--name",
    "--max-buffered-requests",
    "--buffered-request-timeout",
    "--inference-api-key",
    "--management-api-key",
    "--inference-cors-allowed-origin",
    "--state-file",
    "--log-level",
    "--enable-embeddings",
    "--temperature",
    "--chat-template-file",
    "--openai-addr",
    "--compat-openai-addr",
    "--web-admin-panel-addr",
]


def _paddler(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paddler.cli", *arguments], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_help_documents_every_option() -> None:
    completed = _paddler("serve", "--help")
    assert completed.returncode == 0
    for option in SERVE_OPTIONS:
        assert option in completed.stdout, option


@pytest.mark.parametrize(
    ("given", "layout"),
    [
        ([], KvLayout.ADAPTIVE),
        (["--kv-layout", "unified"], KvLayout.UNIFIED),
        (["--kv-layout", "per-slot"], KvLayout.PER_SLOT),
    ],
)
def test_the_kv_layout_is_adaptive_unless_named(default_model_path: Path, given: list[str], layout: KvLayout) -> None:
    parser = argparse.ArgumentParser()
    add_serve_options(parser)
    assert serve_settings(parser.parse_args(["--model", str(default_model_path), *given])).kv_layout is layout


def test_an_unknown_kv_layout_is_refused_with_the_choices() -> None:
    completed = _paddler("serve", "--kv-layout", "pooled")
    assert completed.returncode == 2
    assert "adaptive" in completed.stderr
    assert "per-slot" in completed.stderr


def test_a_model_that_cannot_load_ends_the_command_with_its_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model at all")
    completed = _paddler(
        "serve",
        "--quiet",
        "--model",
        str(broken),
        "--inference-addr",
        f"127.0.0.1:{free_port()}",
        "--management-addr",
        f"127.0.0.1:{free_port()}",
    )
    assert completed.returncode == 1
    assert "not a GGUF file" in completed.stderr


def test_a_taken_port_fails_before_loading(default_model_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = _paddler(
            "serve",
            "--quiet",
            "--model",
            str(default_model_path),
            "--inference-addr",
            f"127.0.0.1:{port}",
            "--management-addr",
            f"127.0.0.1:{free_port()}",
        )
    assert completed.returncode != 0
    assert "in use" in completed.stderr


def test_bad_settings_and_template_files_end_the_command_with_their_reason(
    default_model_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% for message in messages %}")
    for arguments, reason in (
        (["--slots", "0"], "slots must be"),
        (["--chat-template-file", str(tmp_path / "missing.jinja")], "cannot read chat template"),
        (["--chat-template-file", str(broken)], "does not compile"),
    ):
        completed = _paddler("serve", "--quiet", "--model", str(default_model_path), *arguments)
        assert completed.returncode == 2, completed.stderr
        assert reason in completed.stderr
        assert "Traceback" not in completed.stderr
