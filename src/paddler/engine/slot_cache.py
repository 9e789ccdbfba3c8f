"""The slots of the generation context and what their KV caches hold: the slot a new prompt goes to
(the longest prefix the model's memory lets it keep, see engine/prefix_reuse.py), caches of idle slots
moved to host memory under a unified KV cache, and idle caches dropped first when the KV cache runs out."""

from __future__ import annotations

from collections.abc import Sequence

from paddler.engine.choose_slot import choose_slot
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.model_runner import ModelRunner
from paddler.engine.prefix_reuse import reusable_prefix
from paddler.engine.slot import Slot


class SlotCache:
    def __init__(self, settings: EngineSettings, runner: ModelRunner) -> None:
        self._settings = settings
        self._runner = runner
        self.slots = [Slot(seq_id) for seq_id in range(settings.slots)]

    def take(self, prompt: Sequence[int]) -> tuple[Slot, int]:
        """A free slot for `prompt`, marked busy, and how many prompt tokens its cache already holds."""
        free = [(slot.seq_id, self._reusable(slot, prompt), slot.last_used) for slot in self.slots if not slot.busy]
        choice = choose_slot(free)
        if choice is None:
            raise RuntimeError("a request was admitted with no free slot")
        slot = self.slots[choice.slot_index]
        reusable = self._reuse(slot, choice.reusable_tokens)
        slot.busy = True
        return slot, reusable

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
        if state is not None and (reusable == 0 or not self._runner.restore_sequence(slot.seq_id, state)):
            slot.forget_cache()
            return 0
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

    def abandon(self, slot: Slot) -> None:
        """Free the slot and forget what it held without touching the KV cache, which is about to be
        rebuilt or freed."""
        slot.busy = False
        slot.forget_cache()

    def forget(self, slot: Slot) -> None:
        """Drop the slot's sequence from the KV cache and forget what it held."""
        self._runner.erase_sequence(slot.seq_id)
        slot.forget_cache()

    def drop_coldest_idle(self) -> bool:
        """Free the KV cells of the least recently used idle slot; False when no idle slot holds any."""
        idle = [slot for slot in self.slots if not slot.busy and slot.cached_tokens and slot.saved_state is None]
        if not idle:
            return False
        self.forget(min(idle, key=lambda slot: slot.last_used))
        return True

    def _offload(self, slot: Slot) -> None:
        """Move an idle slot's KV cells to host memory, within the prompt cache budget."""
        if not self._settings.kv_unified or not slot.cached_tokens or self._settings.prompt_cache_bytes == 0:
            return
        slot.saved_first_position = self._runner.first_cached_position(slot.seq_id) or 0
        slot.saved_state = self._runner.save_sequence(slot.seq_id)
        self._runner.erase_sequence(slot.seq_id)
        saved = sorted(
            (other for other in self.slots if other.saved_state is not None), key=lambda other: other.last_used
        )
        total = sum(len(other.saved_state or b"") for other in saved)
        for coldest in saved:
            if total <= self._settings.prompt_cache_bytes:
                break
            total -= len(coldest.saved_state or b"")
            coldest.forget_cache()
