"""`haproxy -c` accepts the configuration the balancer writes for each `--affinity` mode, with the stream
relay and without it (HAProxy older than 3.0 runs without), and the balancer turns the relay on exactly
when its HAProxy can run it (HaproxyProcess checks the configuration before it starts HAProxy, and raises
HaproxyError when HAProxy refuses it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from paddler.startup.haproxy_config import AFFINITY_MODES, HaproxySettings, write_haproxy_files
from paddler.startup.haproxy_process import HaproxyProcess, find_haproxy, haproxy_build


@pytest.mark.parametrize("relay", [False, True])
@pytest.mark.parametrize("affinity", AFFINITY_MODES)
def test_haproxy_accepts_the_configuration_of_each_affinity_mode(tmp_path: Path, affinity: str, relay: bool) -> None:
    config = write_haproxy_files(HaproxySettings("127.0.0.1", 8061, 30, 10000, tmp_path, affinity, relay=relay))
    checked = subprocess.run(
        [find_haproxy(), "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    written = config.read_text()
    assert ("hash-type consistent" in written) == (affinity != "off")
    assert ("req.body" in written) == (affinity == "conversation")
    assert ("use-service lua.paddler_relay" in written) == relay


def test_the_balancer_runs_the_relay_when_its_haproxy_can(tmp_path: Path) -> None:
    settings = HaproxySettings("127.0.0.1", 8061, 30, 10000, tmp_path)
    HaproxyProcess(settings, on_restart=lambda: None)
    relayed = "lua.paddler_relay" in settings.config_path.read_text()
    assert relayed == haproxy_build(find_haproxy()).runs_the_relay
