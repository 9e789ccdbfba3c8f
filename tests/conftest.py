"""Shared fixtures: llama.cpp's vocab-only GGUFs, the default model (fetched once into the cache), and the
system's Chromium for the admin panel's browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from paddler.default_model import fetch_default_model
from paddler.llama import LlamaModel
from tests.web.browser import checked_page, chromium_browser

REPOSITORY = Path(__file__).resolve().parent.parent


def llama_cpp_dir() -> Path:
    override = os.environ.get("LLAMA_CPP_DIR")
    return Path(override) if override else REPOSITORY / "vendor" / "llama.cpp"


@pytest.fixture(scope="session")
def vocab_models_dir() -> Path:
    directory = llama_cpp_dir() / "models"
    if not directory.is_dir():
        pytest.fail(f"{directory} is missing: build the package first (it fills vendor/llama.cpp)")
    return directory


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    return fetch_default_model(show_progress=False)


@pytest.fixture(scope="session")
def smollm(default_model_path: Path) -> Iterator[LlamaModel]:
    with LlamaModel(default_model_path) as model:
        yield model


@pytest.fixture(scope="session")
def tiny_projector_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight vision projector whose output width is the default model's (576): each image
    becomes 4 embeddings. What the model then says is noise; the path an image takes is real."""
    from tests.tiny_gguf import write_tiny_projector  # noqa: PLC0415 - tiny_gguf imports this module

    return write_tiny_projector(tmp_path_factory.mktemp("projector") / "tiny-mmproj.gguf", n_embd_text=576)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium_browser() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with checked_page(browser) as opened:
        yield opened
