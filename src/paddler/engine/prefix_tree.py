"""A radix tree (trie) over the token sequences the slots hold, so a new prompt finds the longest cached
prefix in any slot: a busy one (its prompt, prefilled or about to be) or an idle one (in the KV cache or
offloaded to host memory).

Keys are plain ints: vocabulary tokens, or any other id a caller puts in a prompt's cached token list
(an image's positions as pseudo-tokens derived from its content hash). Each owner (a slot's sequence
id) holds one sequence; a node knows the owners whose sequence passes through it, so a node with no
owner left is cut off at once and the tree never holds more than the owners' sequences.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field

from paddler.engine.prefix_reuse import common_prefix_length


@dataclass(slots=True)
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    # Owners whose sequence goes through this node (the root holds every owner).
    owners: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class PrefixMatch:
    # How many leading tokens the query shares with each of `owners`.
    length: int
    owners: frozenset[int]


NO_MATCH = PrefixMatch(0, frozenset())


class PrefixTree:
    def __init__(self) -> None:
        self._root = _Node()
        self._sequences: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self._sequences)

    def sequence(self, owner: int) -> list[int]:
        """A copy of what `owner` holds (empty when it holds nothing)."""
        return list(self._sequences.get(owner, ()))

    def assign(self, owner: int, tokens: Sequence[int]) -> None:
        """`owner` now holds `tokens`: the nodes past what its old and new sequences share lose it, the
        rest of the new sequence is added. An empty sequence removes the owner."""
        old = self._sequences.get(owner, [])
        kept = common_prefix_length(old, tokens)
        node = self._root
        for token in old[:kept]:
            node = node.children[token]
        self._cut(node, old[kept:], owner)
        if not tokens:
            self._root.owners.discard(owner)
            self._sequences.pop(owner, None)
            return
        self._root.owners.add(owner)
        for token in tokens[kept:]:
            child = node.children.get(token)
            if child is None:
                child = node.children[token] = _Node()
            child.owners.add(owner)
            node = child
        self._sequences[owner] = list(tokens)

    def remove(self, owner: int) -> None:
        self.assign(owner, ())

    def longest_prefix(self, tokens: Sequence[int], among: Set[int] | None = None) -> PrefixMatch:
        """The owners (of `among`, when given) that share the most leading tokens with `tokens`, and how
        many (NO_MATCH when none shares any)."""
        node = self._root
        length = 0
        for token in tokens:
            child = node.children.get(token)
            if child is None or (among is not None and child.owners.isdisjoint(among)):
                break
            node = child
            length += 1
        if length == 0:
            return NO_MATCH
        owners = node.owners if among is None else node.owners & among
        return PrefixMatch(length, frozenset(owners))

    @staticmethod
    def _cut(node: _Node, suffix: Sequence[int], owner: int) -> None:
        """Remove `owner` from the nodes of `suffix` below `node`; a child left with no owner goes, with
        everything under it."""
        for token in suffix:
            child = node.children[token]
            child.owners.discard(owner)
            if not child.owners:
                del node.children[token]
                return
            node = child
