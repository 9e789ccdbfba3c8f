"""move_between_streams rewrites a saved sequence state between KV layouts without touching its cells: from
a stream per sequence to one pool and back gives the same bytes, and a state laid out otherwise (another
stream count, cells in a stream that is not the sequence's) is refused rather than rewritten blindly.
Real states through real contexts: tests/integration/test_sequences_survive_a_switch_of_kv_layout.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paddler.llama.sequence_state import move_between_streams


def _state(streams: int, stream: int, block: bytes, seq_id: int = 3) -> bytes:
    """A header, the stream count, empty streams and one stream holding `block` (its count first)."""
    empty = struct.pack("=I", 0)
    cells = struct.pack("=I", 1 + len(block) % 7) + block
    return struct.pack("=IiI", 0xAF13F8D8, seq_id, streams) + empty * stream + cells + empty * (streams - 1 - stream)


@given(data=st.data(), streams=st.integers(min_value=2, max_value=16), block=st.binary(min_size=1, max_size=64))
def test_a_state_moved_to_one_pool_and_back_is_unchanged(data: st.DataObject, streams: int, block: bytes) -> None:
    stream = data.draw(st.integers(min_value=0, max_value=streams - 1))
    per_stream = _state(streams, stream, block)
    pooled = move_between_streams(per_stream, (streams, stream), (1, 0))
    assert pooled == _state(1, 0, block)
    assert move_between_streams(pooled, (1, 0), (streams, stream)) == per_stream


def test_a_state_of_another_stream_count_is_refused() -> None:
    with pytest.raises(ValueError, match="4-stream"):
        move_between_streams(_state(3, 1, b"kv"), (4, 1), (1, 0))


def test_a_state_with_cells_outside_its_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="outside its own stream"):
        move_between_streams(_state(4, 2, b"kv"), (4, 1), (1, 0))
