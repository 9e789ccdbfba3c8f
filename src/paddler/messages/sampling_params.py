"""Sampling settings of one request (Paddler sets them cluster-wide; we also accept them per request)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 0.8
    top_k: int = 80
    top_p: float = 0.8
    min_p: float = 0.05
    penalty_repeat: float = 1.1
    penalty_frequency: float = 0.0
    penalty_presence: float = 0.8
    # -1: the whole context; 0: penalties see nothing.
    penalty_last_n: int = -1
    # None: a fresh random seed per request.
    seed: int | None = None


GREEDY = SamplingParams(
    temperature=0.0, top_k=1, top_p=1.0, min_p=0.0, penalty_repeat=1.0, penalty_frequency=0.0, penalty_presence=0.0
)

# What a server sets as its sampling defaults (its command line, a desired state); the seed is per request.
SERVER_FIELDS = (
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "penalty_repeat",
    "penalty_frequency",
    "penalty_presence",
    "penalty_last_n",
)


def sampling_from(source: Any, seed: int | None = None) -> SamplingParams:
    """SamplingParams from any object with an attribute per server field (parsed options, a desired state)."""
    return SamplingParams(**{name: getattr(source, name) for name in SERVER_FIELDS}, seed=seed)
