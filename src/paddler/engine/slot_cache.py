"""The slots of the generation context and what their KV caches hold: the slot a new prompt goes to
(the longest prefix the model's memory lets it keep, see engine/prefix_reuse.py), the longest prefix
another slot holds or is about to hold (a prefix tree over every slot's tokens, engine/prefix_tree.py),
caches of idle slots moved to host memory under a unified KV cache (and kept there by their tokens when
another prompt takes the slot, engine/host_prompt_cache.py; with a stream per slot, an idle cache stays
in its stream until a prompt that cuts it takes the slot, and is copied there then), and idle caches
dropped first when the KV cache runs out."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import partial

from paddler.engine.choose_slot import FreeSlot, choose_slot, keeps_more_than_it_loses
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.host_prompt_cache import HostEntry, HostPromptCache, oldest_first
from paddler.engine.model_runner import ModelRunner
from paddler.engine.prefix_reuse import MemoryKind, reusable_prefix
from paddler.engine.prefix_tree import PrefixTree
from paddler.engine.shared_prefix import SharedPrefix
from paddler.engine.slot import Slot

# A prefix the source has not prefilled yet is waited for only when it is at least this long: waiting
# costs the request a step, so a few template tokens are not worth it (it takes what the source holds).
MIN_AWAITED_PREFIX = 64


class SlotCache:
    def __init__(self, settings: EngineSettings, runner: ModelRunner) -> None:
        self._settings = settings
        self._runner = runner
        self.slots = [Slot(seq_id) for seq_id in range(settings.slots)]
        # Only an attention cache can take a prefix of another sequence (a recurrent state holds one
        # state per sequence; a sliding window's cells may be overwritten while they are shared).
        self.sharing = settings.prefix_sharing and runner.memory.kind is MemoryKind.ATTENTION
        # Busy slots hold their prompts in it, idle ones what their cache holds (live or offloaded).
        self._tree = PrefixTree()
        self._host = HostPromptCache()

    def take(self, prompt: Sequence[int], waiting: Collection[Slot] = ()) -> tuple[Slot, int, SharedPrefix | None]:
        """A free slot for `prompt`, marked busy, how many prompt tokens its own cache keeps, and a longer
        prefix another slot (not one of `waiting`) holds or is prefilling, when there is one: the caller
        shares it (share()) once the source holds it, and the slot's own cache is then dropped."""
        # Compared with every slot's and host-cached tokens (lists): made a list once, not at each compare.
        prompt = list(prompt)
        free = [
            FreeSlot(slot.seq_id, self._reusable(slot, prompt), len(slot.cached_tokens), slot.last_used)
            for slot in self.slots
            if not slot.busy
        ]
        choice = choose_slot(free, lowest_first=not self._runner.kv_unified)
        if choice is None:
            raise RuntimeError("a request was admitted with no free slot")
        slot = self.slots[choice.slot_index]
        own = self._take_from_host(slot, prompt, choice.reusable_tokens, free)
        shared = self.shared_prefix(slot, prompt, waiting)
        if shared is not None and not _better_than_own(slot, shared, own):
            shared = None
        reusable = self._reuse(slot, 0 if shared is not None else own)
        slot.busy = True
        slot.taken += 1
        if self.sharing:
            self._tree.assign(slot.seq_id, prompt)
        return slot, reusable, shared

    def shared_prefix(self, target: Slot, prompt: Sequence[int], waiting: Collection[Slot]) -> SharedPrefix | None:
        """The longest prefix of `prompt` that a slot other than `target` holds in the KV cache, or will:
        a busy slot not waiting for a prefix itself (so waits never chain), or an idle slot whose cells
        are in the KV cache. At least the prompt's last token is left to decode."""
        if not self.sharing:
            return None
        excluded = {slot.seq_id for slot in waiting}
        sources = {
            slot.seq_id
            for slot in self.slots
            if slot is not target and slot.seq_id not in excluded and (slot.busy or slot.saved_state is None)
        }
        match = self._tree.longest_prefix(prompt[: len(prompt) - 1], sources)
        if not match.owners:
            return None
        # The source furthest on, so the prefix is there soonest.
        source = max((self.slots[owner] for owner in match.owners), key=lambda slot: len(slot.cached_tokens))
        length = match.length
        if len(source.cached_tokens) < length < MIN_AWAITED_PREFIX:
            length = len(source.cached_tokens)
        if not self._runner.kv_unified:
            # The target keeps a token its stream can take, so the decode that applies the copy across
            # streams comes (with an adaptive layout, a request at its stream's end waits for the pool).
            length = min(length, self._runner.stream_cells - 1)
        return SharedPrefix(source, length, source.taken) if length > 0 else None

    def share(self, target: Slot, shared: SharedPrefix) -> None:
        """`target` (busy, about to prefill) takes the shared prefix, which its source now holds."""
        self._runner.share_prefix(shared.source.seq_id, target.seq_id, shared.length)
        target.cached_tokens[:] = shared.source.cached_tokens[: shared.length]

    def _take_from_host(self, slot: Slot, prompt: Sequence[int], own: int, free: Sequence[FreeSlot]) -> int:
        """Give `slot` the cache in host memory that keeps more of `prompt` than its own `own` tokens, if
        one does: a set-aside one, or another idle slot's offloaded one (host memory has no slots, so a
        prompt sent again finds its cache whichever slot it got); the slot's own offloaded cache is set
        aside in turn. `free` holds what each free slot's cache keeps of `prompt`. Returns what the slot now
        keeps."""
        memory = self._runner.memory
        entry, reusable = self._host.best(
            lambda entry: reusable_prefix(memory, entry.tokens, prompt, entry.first_position)
        )
        holder, held = self._best_offloaded_elsewhere(slot, free)
        if max(reusable, held) <= own:
            return own
        if slot.saved_state is not None:
            self._set_aside(slot, slot.saved_state)
        elif slot.cached_tokens:
            self._set_aside_live(slot)
            self.forget(slot)
        if holder is not None and held > reusable:
            slot.cached_tokens[:] = holder.cached_tokens
            slot.saved_state, slot.saved_first_position = holder.saved_state, holder.saved_first_position
            self._forget_cache(holder)  # its cells left the KV cache when it was offloaded
            return held
        assert entry is not None
        self._host.remove(entry)
        slot.cached_tokens[:] = entry.tokens
        slot.saved_state, slot.saved_first_position = entry.state, entry.first_position
        return reusable

    def _best_offloaded_elsewhere(self, target: Slot, free: Sequence[FreeSlot]) -> tuple[Slot | None, int]:
        """The free slot other than `target` whose offloaded cache keeps the most of the prompt (as `free`
        counted it), and how much; (None, 0) when none keeps any."""
        best: tuple[Slot | None, int] = (None, 0)
        for candidate in free:
            other = self.slots[candidate.slot_index]
            if other is not target and other.saved_state is not None and candidate.reusable_tokens > best[1]:
                best = (other, candidate.reusable_tokens)
        return best

    def _set_aside(self, slot: Slot, state: bytes) -> None:
        self._host.keep(HostEntry(list(slot.cached_tokens), state, slot.saved_first_position, slot.last_used))

    def _set_aside_live(self, slot: Slot) -> None:
        """Copy an idle slot's cache that is still in the KV cache (a stream per slot keeps idle caches
        in place) to host memory before another prompt cuts it, as llama-server's --cache-ram does."""
        if not slot.cached_tokens or self._settings.prompt_cache_bytes == 0:
            return
        state, first_position = self._copy_out(slot)
        self._host.keep(HostEntry(list(slot.cached_tokens), state, first_position, slot.last_used))
        self._fit_budget()

    def _copy_out(self, slot: Slot) -> tuple[bytes, int]:
        """The slot's cells in the KV cache as a state, and the smallest position they hold."""
        first_position = self._runner.first_cached_position(slot.seq_id) or 0
        return self._runner.save_sequence(slot.seq_id), first_position

    def _reusable(self, slot: Slot, prompt: Sequence[int]) -> int:
        memory = self._runner.memory
        first_position = 0
        if memory.window > 0 and slot.cached_tokens:
            if slot.saved_state is not None:
                first_position = slot.saved_first_position
            else:
                # Other sequences may overwrite an idle slot's cells that fell out of its window.
                held = self._runner.first_cached_position(slot.seq_id)
                first_position = len(slot.cached_tokens) if held is None else held
        return reusable_prefix(memory, slot.cached_tokens, prompt, first_position)

    def _reuse(self, slot: Slot, reusable: int) -> int:
        """Keep the first `reusable` cached tokens in the KV cache, bringing them back from host memory
        when they were offloaded. Returns how many were kept: 0 (a full prefill) whenever the memory
        cannot keep them."""
        state = slot.saved_state
        slot.saved_state = None
        if state is not None:
            if not keeps_more_than_it_loses(reusable, len(slot.cached_tokens)):
                # Another prompt takes the slot and cuts most or all of its cache: the whole waits in
                # host memory for the conversation it belongs to.
                self._set_aside(slot, state)
            if reusable == 0 or not self._runner.restore_sequence(slot.seq_id, state):
                self._forget_cache(slot)
                return 0
        elif not keeps_more_than_it_loses(reusable, len(slot.cached_tokens)):
            self._set_aside_live(slot)
        self.truncate(slot, reusable)
        return len(slot.cached_tokens)

    def truncate(self, slot: Slot, length: int) -> list[int]:
        """Cut the slot's cache back to its first `length` positions. When the memory cannot cut there
        (a recurrent state), the whole sequence is dropped instead and the tokens it held below the cut
        are returned: the caller decodes them again. Empty when the cut worked."""
        if self._runner.erase_sequence(slot.seq_id, length):
            del slot.cached_tokens[length:]
            return []
        lost = list(slot.cached_tokens[:length])
        self.forget(slot)
        return lost

    def release(self, slot: Slot, now: float) -> None:
        """The slot's request ended; its cache stays for prefix reuse (in host memory when unified)."""
        slot.busy = False
        slot.last_used = now
        self._offload(slot)
        if self.sharing:
            self._tree.assign(slot.seq_id, slot.cached_tokens)

    def abandon(self, slot: Slot) -> None:
        """Free the slot and forget what it held without touching the KV cache, which is about to be
        rebuilt or freed."""
        slot.busy = False
        self._forget_cache(slot)

    def forget(self, slot: Slot) -> None:
        """Drop the slot's sequence from the KV cache and forget what it held."""
        self._runner.erase_sequence(slot.seq_id)
        self._forget_cache(slot)

    def _forget_cache(self, slot: Slot) -> None:
        slot.forget_cache()
        self._tree.remove(slot.seq_id)

    def drop_coldest_idle(self) -> bool:
        """Free the KV cells of the least recently used idle slot; False when no idle slot holds any."""
        idle = [slot for slot in self.slots if not slot.busy and slot.cached_tokens and slot.saved_state is None]
        if not idle:
            return False
        self.forget(min(idle, key=lambda slot: slot.last_used))
        return True

    def _offload(self, slot: Slot) -> None:
        """Move an idle slot's KV cells to host memory, within the prompt cache budget."""
        if not self._runner.kv_unified or not slot.cached_tokens or self._settings.prompt_cache_bytes == 0:
            return
        slot.saved_state, slot.saved_first_position = self._copy_out(slot)
        self._runner.erase_sequence(slot.seq_id)
        self._fit_budget()

    def _fit_budget(self) -> None:
        """Drop the least recently used caches in host memory until they fit `prompt_cache_bytes`."""
        held = [
            (other.last_used, len(other.saved_state), partial(self._forget_cache, other))
            for other in self.slots
            if other.saved_state is not None
        ]
        held += [(entry.last_used, len(entry.state), partial(self._host.remove, entry)) for entry in self._host.entries]
        oldest_first(held, self._settings.prompt_cache_bytes)


def _better_than_own(slot: Slot, shared: SharedPrefix, own: int) -> bool:
    """Whether to take `shared` rather than the slot's own `own` cached tokens: it is longer; or it is as
    long and held in the KV cache now while the slot's own would come back from host memory (a seq_cp
    copies nothing, and one system prompt does not fill the pool once per slot)."""
    return shared.length > own or (shared.length == own > 0 and shared.ready and slot.saved_state is not None)
