"""A sequence's saved KV state (LlamaContext.save_sequence) carried to a context of the other KV layout.

llama.cpp writes an attention cache's sequence state as a header (a magic number, the sequence id), the
number of KV streams, then for each stream the count of the sequence's cells in it and, when not zero,
their positions and K/V rows, which do not depend on the stream's size. A sequence lives in one stream
(one pool: stream 0; a stream per sequence: stream = its id), so moving it between layouts only changes
the stream count and the empty streams around its block; llama.cpp refuses a state whose stream count
is not its own ("n_stream mismatch"). Valid for a plain attention cache only: a sliding-window pair or a
recurrent state writes other formats.
"""

from __future__ import annotations

import struct

_HEADER = struct.Struct("=Ii")
_COUNT = struct.Struct("=I")


def move_between_streams(state: bytes, source: tuple[int, int], destination: tuple[int, int]) -> bytes:
    """`state` saved where the context had `source` = (streams, the sequence's stream), rewritten for a
    context with `destination` = (streams, its stream there). Raises ValueError for a state that is not
    laid out that way (another format, or cells in more than one stream)."""
    streams, stream = source
    header = state[: _HEADER.size]
    counted = _HEADER.size + _COUNT.size
    if len(state) < counted + _COUNT.size * streams or _COUNT.unpack_from(state, _HEADER.size)[0] != streams:
        raise ValueError(f"not the state of a {streams}-stream attention cache")
    before = counted + _COUNT.size * stream
    after = len(state) - _COUNT.size * (streams - 1 - stream)
    if any(state[counted:before]) or any(state[after:]):
        raise ValueError("the sequence has cells outside its own stream")
    streams_to, stream_to = destination
    empty = bytes(_COUNT.size)
    return (
        header
        + _COUNT.pack(streams_to)
        + empty * stream_to
        + state[before:after]
        + empty * (streams_to - 1 - stream_to)
    )
