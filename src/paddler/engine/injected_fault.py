"""Faults injected into chosen engine steps, to test that the engine heals itself (failpoints).

Off unless configured: tests set them on EngineSettings, or for a whole server through the environment,
e.g. PADDLER_INJECT_FAULTS="3:raise,7:decode_error,12:stall=2.5". The number is the engine step (counted
from 1 over the server's life, restarts included) at which the fault strikes, once:
- raise: an exception inside the step, as a bug in our code would raise;
- decode_error: the step's batch goes to llama.cpp with positions it refuses, so llama_decode returns a
  negative code (a real one, from llama.cpp's own batch check);
- stall: the step sleeps that many seconds before decoding, as a hung backend would.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

INJECTED_FAULTS_VARIABLE = "PADDLER_INJECT_FAULTS"


class FaultKind(Enum):
    RAISE = "raise"
    DECODE_ERROR = "decode_error"
    STALL = "stall"


@dataclass(frozen=True, slots=True)
class InjectedFault:
    step: int
    kind: FaultKind
    seconds: float = 0.0


class InjectedFaultError(RuntimeError):
    """The exception a `raise` fault throws inside the engine loop."""


def parse_injected_faults(text: str) -> tuple[InjectedFault, ...]:
    """Faults from their text form (see the module docstring); ValueError names a bad entry."""
    faults = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        step_text, _, action = entry.partition(":")
        kind_text, _, seconds_text = action.partition("=")
        try:
            step = int(step_text)
            kind = FaultKind(kind_text)
            seconds = float(seconds_text) if kind is FaultKind.STALL else 0.0
        except ValueError:
            raise ValueError(
                f"bad injected fault {entry!r}: write STEP:raise, STEP:decode_error or STEP:stall=SECONDS"
            ) from None
        if step < 1 or seconds < 0:
            raise ValueError(f"bad injected fault {entry!r}: the step counts from 1 and seconds are not negative")
        faults.append(InjectedFault(step, kind, seconds))
    return tuple(faults)
