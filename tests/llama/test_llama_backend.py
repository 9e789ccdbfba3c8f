"""llama.cpp's log goes into Python logging: quiet by default, errors always, more on request."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from paddler.llama import GrammarError, LlamaContext, LlamaModel, LlamaSampler, set_log_level, system_info, version


def test_version_and_system_info() -> None:
    assert version()
    assert "CPU" in system_info()


def test_loading_and_decoding_print_nothing_by_default(default_model_path: Path) -> None:
    script = textwrap.dedent(f"""
        from paddler.llama import LlamaBatch, LlamaContext, LlamaModel
        with LlamaModel({str(default_model_path)!r}) as model, LlamaContext(model, n_ctx=256) as context:
            with LlamaBatch(8) as batch:
                batch.add_sequence([1, 2, 3], 0, 0)
                context.decode(batch)
        print("done")
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout == "done\n"
    assert completed.stderr == ""


def test_llama_cpp_errors_reach_the_logger(smollm: LlamaModel, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="paddler.llama_cpp"), pytest.raises(GrammarError):
        LlamaSampler(smollm.vocab, grammar='other ::= "x"')
    assert any(record.name == "paddler.llama_cpp" and "root" in record.getMessage() for record in caplog.records)


def test_info_messages_on_request(smollm: LlamaModel, caplog: pytest.LogCaptureFixture) -> None:
    set_log_level(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="paddler.llama_cpp"), LlamaContext(smollm, n_ctx=256, n_threads=2):
            pass
    finally:
        set_log_level(logging.WARNING)
    messages = [record.getMessage() for record in caplog.records if record.name == "paddler.llama_cpp"]
    assert any("KV buffer size" in message for message in messages)
    assert all(record.levelno == logging.INFO for record in caplog.records if "KV buffer" in record.getMessage())
