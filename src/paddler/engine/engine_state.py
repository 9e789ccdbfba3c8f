"""Lifecycle of the engine, as health checks report it."""

from __future__ import annotations

from enum import Enum


class EngineState(Enum):
    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    # A fault ended the running requests; the contexts are being rebuilt and queued work waits.
    RECOVERING = "recovering"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"
