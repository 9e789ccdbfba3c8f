"""How far the model being downloaded has come, as Paddler's agent snapshot reports it
(download_current, download_total, download_indeterminate, download_filename)."""

from __future__ import annotations

import threading
from typing import Any


class DownloadProgress:
    """Written by the thread that downloads, read by management requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._filename: str | None = None
        self._current = 0
        self._total = 0

    def begin_file(self, filename: str, total: int | None) -> None:
        """`total` None: the size is unknown (the download is indeterminate)."""
        with self._lock:
            self._filename, self._current, self._total = filename, 0, total or 0

    def advance(self, count: int) -> None:
        with self._lock:
            self._current += count

    def clear(self) -> None:
        with self._lock:
            self._filename, self._current, self._total = None, 0, 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "download_current": self._current,
                "download_filename": self._filename,
                "download_indeterminate": self._total == 0,
                "download_total": self._total,
            }
