"""What the engine thread shares with the threads that submit work: state, counters, model facts, and
the two ways other threads reach llama.cpp (the tokenizer facade, and aborting a running decode)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from paddler.engine.engine_state import EngineState
from paddler.engine.engine_stats import EngineCounters
from paddler.engine.model_info import ModelInfo
from paddler.engine.running_step import RunningStep
from paddler.engine.slot_activity import SlotActivity
from paddler.engine.tokenizer import Tokenizer


@dataclass(slots=True)
class EngineStatus:
    state: EngineState = EngineState.STARTING
    counters: EngineCounters = field(default_factory=EngineCounters)
    model_info: ModelInfo | None = None
    n_ctx_seq: int = 0
    # Why the engine failed for good (it will not serve again); None while it serves or recovers.
    failure: str | None = None
    # The last fault the engine recovered from (or is recovering from) and time.monotonic() of it, set
    # as one value so other threads never read one without the other.
    last_fault: tuple[str, float] | None = None
    # time.monotonic() when the running step began; None between steps. A step that runs far longer
    # than any should means decoding has stalled.
    step_started_at: float | None = None
    # Set once loading has ended, in READY or FAILED.
    settled: threading.Event = field(default_factory=threading.Event)
    # Request threads tokenize through it; the engine detaches the model from it before freeing it.
    tokenizer: Tokenizer = field(init=False)
    # Any thread: makes the running decode (generation or embeddings) return early; None while no
    # model is loaded.
    abort_decode: Callable[[], None] | None = None
    running_step: RunningStep = field(default_factory=RunningStep)
    # Replaced whole by the engine thread whenever a slot's occupancy changes and before each step.
    slot_activity: tuple[SlotActivity, ...] = ()

    def __post_init__(self) -> None:
        self.tokenizer = Tokenizer(lambda: self.state)
