"""Lifecycle of the engine, as health checks report it."""

from __future__ import annotations

from enum import Enum


class EngineState(Enum):
    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"
