"""`haproxy -c` accepts the configuration the balancer writes for each `--affinity` mode (HaproxyProcess
checks it before it starts HAProxy, and raises HaproxyError when HAProxy refuses it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paddler.startup.haproxy_config import AFFINITY_MODES, HaproxySettings
from paddler.startup.haproxy_process import HaproxyProcess


@pytest.mark.parametrize("affinity", AFFINITY_MODES)
def test_haproxy_accepts_the_configuration_of_each_affinity_mode(tmp_path: Path, affinity: str) -> None:
    settings = HaproxySettings("127.0.0.1", 8061, 30, 10000, tmp_path, affinity)
    HaproxyProcess(settings, on_restart=lambda: None)
    written = settings.config_path.read_text()
    assert ("hash-type consistent" in written) == (affinity != "off")
    assert ("req.body" in written) == (affinity == "conversation")
