"""gunicorn serving HTTPS (--certfile/--keyfile): the request socket is an SSLSocket, and the check for a
client that went away must work on it as on a plain one."""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import wait_for
from .gunicorn_server import Gunicorn, gunicorn


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


@pytest.fixture(scope="module")
def https_server(default_model_path: Path, certificate: tuple[Path, Path]) -> Iterator[Gunicorn]:
    certificate_file, key_file = certificate
    trust = ssl.create_default_context(cafile=str(certificate_file))
    with gunicorn(
        f"--model {default_model_path} --threads 2 --slots 2 --context-size 4096 --temperature 0",
        "--certfile",
        str(certificate_file),
        "--keyfile",
        str(key_file),
        scheme="https",
        verify=trust,
    ) as served:
        yield served


def _slots_processing(served: Gunicorn) -> int:
    agents = httpx.get(served.urls[1] + "/api/v1/agents", verify=served.verify).json()["agents"]
    return int(agents[0]["slots_processing"])


def test_a_long_generation_over_https_streams_to_its_end(https_server: Gunicorn) -> None:
    """Longer than the quarter second between disconnect checks: every check runs on the SSLSocket."""
    response = httpx.post(
        https_server.urls[0] + "/api/v1/continue_from_raw_prompt",
        json={"raw_prompt": "Count from one to one thousand: one, two, three,", "max_tokens": 300},
        verify=https_server.verify,
        timeout=120,
    )
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert "Error" not in lines[-1], lines[-1]
    assert "Done" in lines[-1]["Response"]["response"]["GeneratedToken"]
    assert len(lines) > 20


def test_a_client_that_leaves_over_https_frees_its_slot(https_server: Gunicorn) -> None:
    with (
        httpx.Client(verify=https_server.verify, timeout=60) as client,
        client.stream(
            "POST",
            https_server.urls[0] + "/api/v1/continue_from_raw_prompt",
            json={"raw_prompt": "Count from one to one thousand: one, two, three,", "max_tokens": 4000},
        ) as response,
    ):
        lines = response.iter_lines()
        for _ in range(3):
            assert "GeneratedToken" in next(lines)
        assert _slots_processing(https_server) == 1
    # The client closed its TLS connection (close_notify, then FIN) without reading the rest.
    assert wait_for(lambda: _slots_processing(https_server) == 0, timeout=5)
