"""IncrementalDetokenizer: valid UTF-8 at every step, U+FFFD only for bytes that can never decode."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paddler.engine.incremental_detokenizer import IncrementalDetokenizer


def test_a_split_character_is_held_back_until_complete() -> None:
    detokenizer = IncrementalDetokenizer()
    encoded = "🦙".encode()
    assert detokenizer.push(encoded[:1]) == ""
    assert detokenizer.push(encoded[1:3]) == ""
    assert detokenizer.push(encoded[3:] + b"!") == "🦙!"
    assert detokenizer.finish() == ""


def test_invalid_bytes_become_replacement_characters() -> None:
    detokenizer = IncrementalDetokenizer()
    assert detokenizer.push(b"a\xffb") == "a\ufffdb"


def test_an_unfinished_tail_is_flushed_at_the_end() -> None:
    detokenizer = IncrementalDetokenizer()
    assert detokenizer.push("你".encode()[:2]) == ""
    assert detokenizer.finish() == "\ufffd"


@given(st.text(), st.lists(st.integers(min_value=0, max_value=64)))
def test_any_split_of_valid_text_reassembles_exactly(text: str, cuts: list[int]) -> None:
    encoded = text.encode("utf-8", "surrogatepass")
    if any(0xD800 <= ord(character) <= 0xDFFF for character in text):
        return
    positions = sorted({min(cut, len(encoded)) for cut in cuts})
    pieces = [encoded[start:end] for start, end in zip([0, *positions], [*positions, len(encoded)], strict=True)]
    detokenizer = IncrementalDetokenizer()
    streamed = [detokenizer.push(piece) for piece in pieces] + [detokenizer.finish()]
    assert "".join(streamed) == text
    assert all("\ufffd" not in chunk for chunk in streamed) or "\ufffd" in text
