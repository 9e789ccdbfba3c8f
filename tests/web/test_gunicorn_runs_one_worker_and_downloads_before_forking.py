"""gunicorn serves one engine per process, and models are fetched in the master, outside the worker's
timeout."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from paddler.engine.engine_settings import EngineSettings
from paddler.web.shared.desired_state import UrlModel, UrlModelReference, state_from_settings
from tests.conftest import REPOSITORY

from .conftest import free_port
from .gunicorn_server import gunicorn, gunicorn_command, serve_environment


@pytest.mark.parametrize(
    ("arguments", "variables"),
    [((), {"PADDLER_WORKERS": "2"}), (("-w", "2"), {}), (("--workers=3",), {})],
    ids=["environment", "short-flag", "long-flag"],
)
def test_more_than_one_worker_is_refused_with_a_pointer_to_the_fleet(
    default_model_path: Path, arguments: tuple[str, ...], variables: dict[str, str]
) -> None:
    ports = (free_port(), free_port(), free_port())
    completed = subprocess.run(
        gunicorn_command(*arguments),
        check=False,
        env=serve_environment(f"--model {default_model_path}", ports, **variables),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert "one engine per process" in completed.stderr
    assert "load balancer" in completed.stderr
    assert "Booting worker" not in completed.stderr, "no engine may start"


class _SlowModelHandler(http.server.BaseHTTPRequestHandler):
    """Serves the default model over about DOWNLOAD_SECONDS, longer than the worker's timeout, noting
    whether gunicorn had booted a worker when each download started."""

    model: bytes = b""
    gunicorn_log: Path | None = None
    worker_booted_at_download: ClassVar[list[bool]] = []
    DOWNLOAD_SECONDS = 6.0
    CHUNKS = 12

    def do_GET(self) -> None:
        assert self.gunicorn_log is not None
        self.worker_booted_at_download.append("Booting worker" in self.gunicorn_log.read_text())
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.model)))
        self.end_headers()
        size = len(self.model) // self.CHUNKS + 1
        try:
            for start in range(0, len(self.model), size):
                self.wfile.write(self.model[start : start + size])
                time.sleep(self.DOWNLOAD_SECONDS / self.CHUNKS)
        except OSError:
            pass  # a downloader that was killed

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_model_url(default_model_path: Path) -> Iterator[str]:
    _SlowModelHandler.model = default_model_path.read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowModelHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/model.gguf"
    server.shutdown()
    server.server_close()


def test_a_saved_state_model_is_downloaded_in_the_master_before_any_worker_boots(
    default_model_path: Path, slow_model_url: str, tmp_path: Path
) -> None:
    """The download outlasts the worker's 3 s timeout: it must not happen inside the worker, whose boot
    gunicorn may count against that timeout and kill."""
    state = state_from_settings(EngineSettings(model_path=default_model_path, slots=1, context_size=2048), None)
    state = state.model_copy(update={"model": UrlModel(Url=UrlModelReference(url=slow_model_url))})
    state_file = tmp_path / "state.json"
    state_file.write_text(state.model_dump_json())
    _SlowModelHandler.gunicorn_log = tmp_path / "gunicorn.log"
    _SlowModelHandler.worker_booted_at_download.clear()
    with gunicorn(
        f"--model {default_model_path} --slots 1 --context-size 2048 --state-file {state_file}",
        ready_within=90,
        log_path=tmp_path / "gunicorn.log",
        PADDLER_WORKER_TIMEOUT="3",
        PADDLER_CACHE_DIR=str(tmp_path / "cache"),
    ) as served:
        assert httpx.get(served.urls[0] + "/ready").status_code == 200
        details = httpx.get(served.urls[1] + "/api/v1/agents").json()["agents"][0]
        assert details["state_application_status"] == "Applied"
        assert Path(details["model_path"]).parent == tmp_path / "cache" / "downloaded-models"
    assert _SlowModelHandler.worker_booted_at_download == [False], "one download, by the master"
