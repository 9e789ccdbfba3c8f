"""Stop strings over streamed text: text that could still become a stop string is held back, so no
part of one is ever sent; once one appears, the text before it is the last to go out."""

from __future__ import annotations

from collections.abc import Sequence


class StopStrings:
    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [stop for stop in stops if stop]
        self._held = ""
        self.stopped = False

    def push(self, text: str) -> str:
        """The text safe to send now; after a stop string nothing more is."""
        if self.stopped:
            return ""
        self._held += text
        positions = [self._held.find(stop) for stop in self._stops]
        found = [position for position in positions if position >= 0]
        if found:
            self.stopped = True
            released, self._held = self._held[: min(found)], ""
            return released
        keep = max((self._partial_suffix(stop) for stop in self._stops), default=0)
        released = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return released

    def finish(self) -> str:
        released, self._held = ("" if self.stopped else self._held), ""
        return released

    def _partial_suffix(self, stop: str) -> int:
        """Length of the longest end of the held text that starts `stop`."""
        for length in range(min(len(stop) - 1, len(self._held)), 0, -1):
            if stop.startswith(self._held[-length:]):
                return length
        return 0
