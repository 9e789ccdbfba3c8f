"""tools/fetch_llama_cpp.py: extraction of only llama.cpp from the sdist, and hash verification."""

from __future__ import annotations

import importlib.util
import io
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPOSITORY


@pytest.fixture(scope="module")
def fetch_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_llama_cpp", REPOSITORY / "tools" / "fetch_llama_cpp.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_extracts_only_the_vendored_llama_cpp(fetch_tool: ModuleType, tmp_path: Path) -> None:
    prefix = fetch_tool.MEMBER_PREFIX
    sdist = _tarball(
        tmp_path / "sdist.tar.gz",
        {
            f"{prefix}include/llama.h": b"// header",
            f"{prefix}CMakeLists.txt": b"project(llama)",
            "llama_cpp_python-0.3.36/llama_cpp/llama.py": b"not ours",
        },
    )
    destination = tmp_path / "vendor" / "llama.cpp"
    fetch_tool.extract_llama_cpp(sdist, destination)
    assert fetch_tool.is_llama_cpp_tree(destination)
    assert sorted(path.name for path in destination.rglob("*") if path.is_file()) == ["CMakeLists.txt", "llama.h"]
    assert not list(destination.parent.glob(".llama.cpp-*")), "the staging folder must be gone"


def test_an_sdist_without_llama_cpp_is_refused(fetch_tool: ModuleType, tmp_path: Path) -> None:
    sdist = _tarball(tmp_path / "sdist.tar.gz", {"something/else.txt": b"x"})
    destination = tmp_path / "vendor" / "llama.cpp"
    with pytest.raises(SystemExit, match=r"holds no llama\.cpp"):
        fetch_tool.extract_llama_cpp(sdist, destination)
    assert not destination.exists()


def test_a_cached_sdist_with_the_wrong_hash_is_removed(
    fetch_tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADDLER_CACHE_DIR", str(tmp_path))
    tampered = tmp_path / "downloads" / fetch_tool.SDIST_NAME
    tampered.parent.mkdir(parents=True)
    tampered.write_bytes(b"tampered")
    with pytest.raises(SystemExit, match="sha256"):
        fetch_tool.cached_sdist()
    assert not tampered.exists()


def test_an_existing_tree_is_left_alone(
    fetch_tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "llama.cpp"
    (destination / "include").mkdir(parents=True)
    (destination / "include" / "llama.h").write_text("// header")
    (destination / "CMakeLists.txt").write_text("project(llama)")
    monkeypatch.setattr("sys.argv", ["fetch_llama_cpp.py", str(destination)])
    monkeypatch.setattr(fetch_tool, "cached_sdist", lambda: pytest.fail("must not download"))
    fetch_tool.main()
