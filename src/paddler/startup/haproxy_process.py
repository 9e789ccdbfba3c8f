"""HAProxy as the balancer's supervised child: started with the generated configuration, started again
(with a fresh, empty pool) when it exits on its own, stopped with the balancer."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from paddler.startup.haproxy_config import HaproxySettings, write_haproxy_files

logger = logging.getLogger(__name__)
START_SECONDS = 5.0
RESTART_PAUSE_SECONDS = 1.0
MISSING_HAPROXY = (
    "haproxy is not installed (or not on PATH): `paddler balancer` runs HAProxy for the inference traffic. "
    "Install it with your system's packages, e.g. `apt-get install haproxy` on Debian or Ubuntu "
    "(2.6 or newer; 3.0 or newer ends a stream cut by an agent's death with an error line), "
    "`dnf install haproxy` on Fedora, `brew install haproxy` on macOS."
)
# The first HAProxy whose Lua sockets the stream relay can keep awake (stream_relay.lua says why).
RELAY_SINCE = (3, 0)


class HaproxyError(RuntimeError):
    pass


def find_haproxy() -> str:
    """The haproxy executable ($PADDLER_HAPROXY names another); HaproxyError saying how to install it
    when there is none. Debian installs it in /usr/sbin, which a user's PATH may lack."""
    name = os.environ.get("PADDLER_HAPROXY", "haproxy")
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise HaproxyError(MISSING_HAPROXY)
    return found


@dataclass(frozen=True, slots=True)
class HaproxyBuild:
    version: str  # as `haproxy -vv` names it, e.g. "3.0.11-9e587df" ("" when it names none)
    lua: bool

    @property
    def runs_the_relay(self) -> bool:
        """Built with Lua, and RELAY_SINCE or newer."""
        numbers = re.match(r"(\d+)\.(\d+)", self.version)
        return self.lua and numbers is not None and (int(numbers[1]), int(numbers[2])) >= RELAY_SINCE


def haproxy_build(executable: str) -> HaproxyBuild:
    shown = subprocess.run([executable, "-vv"], capture_output=True, text=True, check=False).stdout
    version = re.search(r"version (\S+)", shown)
    return HaproxyBuild(version[1] if version else "", "+LUA" in shown)


class HaproxyProcess:
    def __init__(self, settings: HaproxySettings, on_restart: Callable[[], None]) -> None:
        self._executable = find_haproxy()
        build = haproxy_build(self._executable)
        if not build.runs_the_relay:
            logger.warning(
                "HAProxy %s (%s) is older than %d.%d or lacks Lua: a stream cut by an agent's death will end "
                "without an error line (docs/fleet.md; scripts/install-haproxy builds a newer one)",
                build.version or "of unknown version",
                self._executable,
                *RELAY_SINCE,
            )
        self._settings = replace(settings, relay=build.runs_the_relay)
        self._on_restart = on_restart
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._config = write_haproxy_files(self._settings)
        self._check_config()

    def _check_config(self) -> None:
        checked = subprocess.run(
            [self._executable, "-c", "-q", "-f", str(self._config)], capture_output=True, text=True, check=False
        )
        if checked.returncode != 0:
            raise HaproxyError(f"haproxy refused the generated configuration:\n{checked.stderr or checked.stdout}")

    def _launch(self) -> None:
        socket = self._settings.admin_socket
        socket.unlink(missing_ok=True)
        # -db: stay in the foreground, so this process is HAProxy itself and a signal reaches it.
        self._process = subprocess.Popen([self._executable, "-db", "-f", str(self._config)])
        deadline = time.monotonic() + START_SECONDS
        while not socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise HaproxyError(f"haproxy did not start (exit status {self._process.poll()})")
            time.sleep(0.02)

    def start(self) -> None:
        self._launch()
        threading.Thread(target=self._supervise, name="paddler-haproxy", daemon=True).start()

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            assert self._process is not None
            status = self._process.wait()
            if self._stopping.is_set():
                return
            logger.error("haproxy exited with status %s; starting it again", status)
            time.sleep(RESTART_PAUSE_SECONDS)
            try:
                self._launch()
            except HaproxyError:
                logger.exception("haproxy could not be started again")
                continue
            self._on_restart()

    def stop(self) -> None:
        self._stopping.set()
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    @property
    def admin_socket(self) -> Path:
        return self._settings.admin_socket
