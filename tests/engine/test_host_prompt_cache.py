"""The host prompt cache: the entry that keeps most of a prompt, and the budget kept oldest first out."""

from __future__ import annotations

from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from paddler.engine.host_prompt_cache import HostEntry, HostPromptCache, oldest_first


def test_the_entry_keeping_most_of_the_prompt_wins_most_recent_on_ties() -> None:
    cache = HostPromptCache()
    old, recent, longer = (
        HostEntry([1, 2], b"a", 0, 1.0),
        HostEntry([1, 3], b"b", 0, 2.0),
        HostEntry([4], b"c", 0, 0.0),
    )
    for entry in (old, recent, longer):
        cache.keep(entry)
    kept = {id(old): 2, id(recent): 2, id(longer): 3}
    assert cache.best(lambda entry: kept[id(entry)]) == (longer, 3)
    cache.remove(longer)
    assert cache.best(lambda entry: kept[id(entry)]) == (recent, 2)
    assert cache.best(lambda entry: 0) == (None, 0)


@given(st.lists(st.tuples(st.floats(0, 100), st.integers(0, 50)), max_size=12), st.integers(0, 200))
def test_oldest_go_first_until_the_rest_fit(held: list[tuple[float, int]], budget: int) -> None:
    dropped: list[int] = []
    entries = [(used, size, partial(dropped.append, index)) for index, (used, size) in enumerate(held)]
    oldest_first(entries, budget)
    kept = [index for index in range(len(held)) if index not in dropped]
    assert sum(held[index][1] for index in kept) <= budget
    if dropped and kept:
        assert max(held[index][0] for index in dropped) <= min(held[index][0] for index in kept)
    # Nothing more is dropped than needed: putting back the last one dropped would break the budget.
    if dropped:
        assert sum(held[index][1] for index in kept) + held[dropped[-1]][1] > budget
