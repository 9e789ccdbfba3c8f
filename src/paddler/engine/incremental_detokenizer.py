"""Turns a stream of token pieces (bytes) into text that is valid UTF-8 at every step."""

from __future__ import annotations

import codecs


class IncrementalDetokenizer:
    """Holds back an incomplete multi-byte character until its last byte arrives; bytes that can never
    form a character become U+FFFD; `finish()` flushes whatever is left."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, piece: bytes) -> str:
        return self._decoder.decode(piece)

    def finish(self) -> str:
        return self._decoder.decode(b"", final=True)
