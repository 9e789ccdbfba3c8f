"""The prefix tree against a brute-force model: a dict of owner -> sequence, searched by scanning."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paddler.engine.prefix_reuse import common_prefix_length
from paddler.engine.prefix_tree import NO_MATCH, PrefixMatch, PrefixTree

# A small alphabet, so sequences share prefixes often; negative and huge ids stand for pseudo-tokens.
tokens = st.lists(st.sampled_from([0, 1, 2, -7, 2**40]), max_size=12)
owners = st.integers(0, 5)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), owners, tokens),
        st.tuples(st.just("remove"), owners, st.just([])),
        st.tuples(st.just("lookup"), st.just(0), tokens),
        st.tuples(st.just("lookup among"), owners, tokens),
    ),
    max_size=40,
)


def brute_force_longest_prefix(
    model: dict[int, list[int]], query: list[int], among: set[int] | None = None
) -> PrefixMatch:
    lengths = {
        owner: common_prefix_length(sequence, query)
        for owner, sequence in model.items()
        if among is None or owner in among
    }
    best = max(lengths.values(), default=0)
    if best == 0:
        return NO_MATCH
    return PrefixMatch(best, frozenset(owner for owner, length in lengths.items() if length == best))


def count_nodes(tree: PrefixTree) -> int:
    # The test checks that no node outlives its owners.
    pending = [tree._root]
    seen = 0
    while pending:
        node = pending.pop()
        seen += len(node.children)
        pending.extend(node.children.values())
    return seen


def distinct_prefixes(model: dict[int, list[int]]) -> int:
    return len({tuple(sequence[:end]) for sequence in model.values() for end in range(1, len(sequence) + 1)})


@settings(max_examples=300, deadline=None)
@given(operations)
def test_every_lookup_matches_a_scan_of_every_owner(steps: list[tuple[str, int, list[int]]]) -> None:
    tree = PrefixTree()
    model: dict[int, list[int]] = {}
    for action, owner, sequence in steps:
        if action == "assign":
            tree.assign(owner, sequence)
            if sequence:
                model[owner] = list(sequence)
            else:
                model.pop(owner, None)
        elif action == "remove":
            tree.remove(owner)
            model.pop(owner, None)
        elif action == "lookup":
            assert tree.longest_prefix(sequence) == brute_force_longest_prefix(model, sequence)
        else:
            # Every owner but one, as the engine asks for a source other than the target slot.
            among = set(range(6)) - {owner}
            assert tree.longest_prefix(sequence, among) == brute_force_longest_prefix(model, sequence, among)
        assert len(tree) == len(model)
        assert {owner: tree.sequence(owner) for owner in model} == model
        # Evicting an owner cuts its nodes: the tree holds one node per distinct prefix, no more.
        assert count_nodes(tree) == distinct_prefixes(model)


def test_an_owner_reassigned_keeps_only_its_new_sequence() -> None:
    tree = PrefixTree()
    tree.assign(1, [5, 6, 7])
    tree.assign(2, [5, 6, 8])
    tree.assign(1, [5, 9])
    assert tree.longest_prefix([5, 6, 7]) == PrefixMatch(2, frozenset({2}))
    assert tree.longest_prefix([5, 9, 9]) == PrefixMatch(2, frozenset({1}))
    assert tree.longest_prefix([5]) == PrefixMatch(1, frozenset({1, 2}))
    tree.remove(2)
    assert tree.longest_prefix([5, 6, 8]) == PrefixMatch(1, frozenset({1}))
    assert tree.longest_prefix([4]) == NO_MATCH
