"""for_streams rewrites a saved sequence state between KV layouts without touching its cells: from a stream
per sequence to one pool and back gives the same bytes, a state that already fits is returned as it is,
and a state laid out otherwise (cells in a stream that is not the sequence's) is refused rather than
rewritten blindly. Real states through real contexts:
tests/integration/test_sequences_survive_a_switch_of_kv_layout.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paddler.llama.sequence_state import for_streams


def _state(streams: int, stream: int, block: bytes, seq_id: int) -> bytes:
    """A header, the stream count, empty streams and one stream holding `block` (its count first)."""
    empty = struct.pack("=I", 0)
    cells = struct.pack("=I", 1 + len(block) % 7) + block
    return struct.pack("=IiI", 0xAF13F8D8, seq_id, streams) + empty * stream + cells + empty * (streams - 1 - stream)


@given(data=st.data(), streams=st.integers(min_value=2, max_value=16), block=st.binary(min_size=1, max_size=64))
def test_a_state_moved_to_one_pool_and_back_is_unchanged(data: st.DataObject, streams: int, block: bytes) -> None:
    seq_id = data.draw(st.integers(min_value=0, max_value=streams - 1))
    per_stream = _state(streams, seq_id, block, seq_id)
    pooled = for_streams(per_stream, 1, 0)
    assert pooled == _state(1, 0, block, seq_id)
    assert for_streams(pooled, streams, seq_id) == per_stream
    assert for_streams(per_stream, streams, seq_id) is per_stream


def test_a_state_with_cells_outside_its_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="outside its own stream"):
        for_streams(_state(4, 2, b"kv", seq_id=1), 1, 0)
