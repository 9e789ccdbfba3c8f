"""A sequence's saved KV state (LlamaContext.save_sequence) made to fit a context of the other KV layout.

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


def for_streams(state: bytes, streams: int, stream: int) -> bytes:
    """`state` rewritten for a context of `streams` KV streams in which the sequence lives in `stream`
    (unchanged when it was saved from such a context). Raises ValueError for a state not laid out as
    above (another format, or cells in more than one stream)."""
    if len(state) < _HEADER.size + _COUNT.size:
        raise ValueError("too short for a sequence state")
    _, saved_from = _HEADER.unpack_from(state)
    (saved_streams,) = _COUNT.unpack_from(state, _HEADER.size)
    saved_stream = 0 if saved_streams == 1 else saved_from
    if (saved_streams, saved_stream) == (streams, stream):
        return state
    counted = _HEADER.size + _COUNT.size
    if saved_stream >= saved_streams or len(state) < counted + _COUNT.size * saved_streams:
        raise ValueError(f"not the state of a {saved_streams}-stream attention cache")
    before = counted + _COUNT.size * saved_stream
    after = len(state) - _COUNT.size * (saved_streams - 1 - saved_stream)
    if any(state[counted:before]) or any(state[after:]):
        raise ValueError("the sequence has cells outside its own stream")
    empty = bytes(_COUNT.size)
    around = (empty * stream, empty * (streams - 1 - stream))
    return state[: _HEADER.size] + _COUNT.pack(streams) + around[0] + state[before:after] + around[1]
