"""The engine thread's door to llama.cpp: owns the model, its contexts, batches and samplers.

Created and used by the engine thread alone; request threads reach llama.cpp only through the tokenizer
facade (engine/tokenizer.py). The binding's outcomes and errors the engine handles are re-exported here,
and so are llama.cpp's build facts and log level and a model file's description for the command line, so
this module and the facade stay the only importers of paddler.llama.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy
import numpy.typing

from paddler.engine.engine_settings import EngineSettings, KvLayout
from paddler.engine.model_info import ModelInfo
from paddler.engine.prefix_reuse import MemoryKind, sequence_memory
from paddler.engine.token_markers import TokenMarkers
from paddler.llama import (
    DecodeOutcome,
    GrammarError,
    KvCacheFullError,
    LlamaBatch,
    LlamaContext,
    LlamaError,
    LlamaModel,
    LlamaMultimodal,
    LlamaSampler,
    ModelLoadError,
    MultimodalChunks,
    SamplingError,
    SequenceOutput,
    sample_and_push,
    set_log_level,
    system_info,
    version,
)
from paddler.llama.sequence_output import BUDGET_SPENT, END_OF_GENERATION, TOOL_CALLS
from paddler.llama.sequence_state import for_streams
from paddler.messages.generate_tokens_params import GrammarConstraint
from paddler.messages.sampling_params import SamplingParams

__all__ = [
    "BUDGET_SPENT",
    "END_OF_GENERATION",
    "TOOL_CALLS",
    "DecodeOutcome",
    "DecodeRow",
    "GrammarError",
    "KvCacheFullError",
    "LlamaError",
    "ModelRunner",
    "MultimodalChunks",
    "SamplingError",
    "describe_model_file",
    "set_log_level",
    "system_info",
    "version",
]

FloatVector = numpy.typing.NDArray[numpy.float32]


@dataclass(frozen=True, slots=True)
class DecodeRow:
    """One run of tokens of one sequence inside a generation batch."""

    seq_id: int
    tokens: Sequence[int]
    start_position: int
    wants_output: bool


def _special_text(model: LlamaModel, token: int | None) -> str:
    if token is None:
        return ""
    return model.vocab.token_to_piece(token, special=True).decode("utf-8", "replace")


def _read_model_info(model: LlamaModel) -> ModelInfo:
    return ModelInfo(
        path=str(model.path),
        description=model.description,
        n_params=model.n_params,
        size_bytes=model.size_bytes,
        n_ctx_train=model.n_ctx_train,
        n_embd=model.n_embd,
        n_vocab=model.vocab.n_tokens,
        chat_template=model.chat_template,
        metadata=model.metadata,
        bos_text=_special_text(model, model.vocab.bos),
        eos_text=_special_text(model, model.vocab.eos),
        sep_text=_special_text(model, model.vocab.sep),
        vocab_type=model.vocab.type,
    )


def describe_model_file(path: str, *, vocab_only: bool) -> ModelInfo:
    """Load a GGUF file (any thread; its own model), read its facts and free it. Raises LlamaError."""
    with LlamaModel(path, vocab_only=vocab_only) as model:
        return _read_model_info(model)


class ModelRunner:
    def __init__(self, settings: EngineSettings, progress: Callable[[float], bool | None] | None = None) -> None:
        self.settings = settings
        self.model = LlamaModel(settings.model_path, n_gpu_layers=settings.n_gpu_layers, progress=progress)
        self.vocab = self.model.vocab
        self.eog_tokens = self.model.vocab.eog_tokens()
        self.memory = sequence_memory(
            is_recurrent=self.model.is_recurrent, is_hybrid=self.model.is_hybrid, n_swa=self.model.n_swa
        )
        self._pieces: dict[int, bytes] = {}
        # The KV layout adapts only for a plain attention cache, whose sequence states can change layout
        # (llama/sequence_state.py); any other memory keeps the pool.
        movable = self.memory.kind is MemoryKind.ATTENTION and self.model.n_swa == 0
        self.adaptive = settings.kv_layout is KvLayout.ADAPTIVE and movable
        # The layout the generation context has now: an adaptive one starts per slot (switch_layout
        # changes it); one that cannot move keeps the pool.
        self._unified = settings.kv_layout is not KvLayout.PER_SLOT and not self.adaptive
        self.generation_context: LlamaContext | None = None
        # A prefix copied across KV streams that llama.cpp applies at the next decode: no layout switch
        # (which saves every sequence) until then.
        self.copies_pending = False
        self.embedding_context: LlamaContext | None = None
        self.multimodal: LlamaMultimodal | None = None
        self.decode_seconds = 0.0
        try:
            if settings.projector_path is not None:
                self.multimodal = self._load_projector(settings)
            self._create_contexts(settings)
        except BaseException:
            self.close()
            raise

    def _load_projector(self, settings: EngineSettings) -> LlamaMultimodal:
        """The projector next to the model; raises ModelLoadError for one this engine cannot serve."""
        multimodal = LlamaMultimodal(self.model, str(settings.projector_path), n_threads=settings.threads)
        if not multimodal.supports_vision:
            multimodal.close()
            raise ModelLoadError(f"the multimodal projector {settings.projector_path} reads no images")
        if multimodal.uses_mrope:
            # The slots keep one KV cell per position; M-RoPE images take fewer positions than cells.
            multimodal.close()
            raise ModelLoadError(
                f"the multimodal projector {settings.projector_path} needs M-RoPE positions (Qwen2-VL and its kin), "
                "which this engine does not support yet"
            )
        return multimodal

    def rebuild_contexts(self) -> None:
        """Fresh contexts and batches on the loaded model, after a fault left the old ones in doubt."""
        self._close_contexts()
        self._create_contexts(self.settings)

    def switch_layout(self, kv_unified: bool) -> list[int]:
        """Rebuild the generation context with one KV pool (`kv_unified`) or a stream per slot, carrying
        every sequence's cache over: each is saved, the context made anew, and each restored. Returns the
        sequences that did not fit the new layout (longer than a slot's stream), which are left empty."""
        context = self.generation_context
        assert context is not None
        if context.kv_unified == kv_unified:
            return []
        if not self.adaptive or self.copies_pending:
            raise ValueError(
                "only a plain attention cache with an adaptive layout, between decodes, changes its layout"
            )
        saved = {
            seq_id: context.save_sequence(seq_id)
            for seq_id in range(self.settings.slots)
            if context.seq_pos_range(seq_id) is not None
        }
        context.close()
        self.generation_context = None
        self._unified = kv_unified
        self.generation_context = self._generation_context(self.settings)
        return [seq_id for seq_id, state in saved.items() if not self.restore_sequence(seq_id, state)]

    def _generation_context(self, settings: EngineSettings) -> LlamaContext:
        return LlamaContext(
            self.model,
            n_ctx=settings.context_size,
            n_batch=settings.n_batch,
            n_ubatch=settings.n_ubatch,
            n_seq_max=settings.slots,
            kv_unified=self._unified,
            type_k=settings.k_cache_type,
            type_v=settings.v_cache_type,
            n_threads=settings.threads,
            flash_attention=settings.flash_attention,
        )

    def _create_contexts(self, settings: EngineSettings) -> None:
        self.generation_batch = LlamaBatch(settings.n_batch)
        self.embedding_batch = LlamaBatch(settings.n_batch)
        if settings.enable_generation:
            self.generation_context = self._generation_context(settings)
        if settings.enable_embeddings:
            # Every batch starts from an empty cache, and non-causal models need a whole document in
            # one micro-batch, so the context is one batch long and n_ubatch = n_batch. Positions stay
            # within the training context because each document is bounded by max_document_tokens.
            self.embedding_context = LlamaContext(
                self.model,
                n_ctx=settings.n_batch,
                n_batch=settings.n_batch,
                n_ubatch=settings.n_batch,
                n_seq_max=min(settings.embedding_batch_sequences, settings.n_batch),
                kv_unified=True,
                embeddings=True,
                pooling=settings.pooling_type,
                n_threads=settings.threads,
                flash_attention=settings.flash_attention,
            )

    def describe_model(self) -> ModelInfo:
        return replace(_read_model_info(self.model), supports_images=self.multimodal is not None)

    @property
    def max_document_tokens(self) -> int:
        """Tokens one embedded document may hold: one batch, and no more positions than the model was
        trained on (a BERT position table has n_ctx_train rows; indexing past it aborts the process)."""
        n_ctx_train = self.model.n_ctx_train
        return min(self.settings.n_batch, n_ctx_train) if n_ctx_train > 0 else self.settings.n_batch

    @property
    def n_ctx_seq(self) -> int:
        """KV cells one generating sequence may use: the pool's when the layout adapts (a sequence that
        outgrows its slot's stream moves the context to one pool)."""
        if self.generation_context is None:
            return 0
        return self.settings.context_size if self.adaptive else self.generation_context.n_ctx_seq

    @property
    def stream_cells(self) -> int:
        """KV cells one sequence may use in the generation context's present layout."""
        return 0 if self.generation_context is None else self.generation_context.n_ctx_seq

    @property
    def kv_unified(self) -> bool:
        """Whether the generation context is one KV pool now (an adaptive layout changes it)."""
        return self.generation_context is not None and self.generation_context.kv_unified

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        """Request threads tokenize through the tokenizer facade instead, which outlives the runner."""
        return self.vocab.tokenize(text, add_special=add_special, parse_special=parse_special)

    def piece(self, token: int) -> bytes:
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._pieces[token] = self.vocab.token_to_piece(token)
        return cached

    def new_sampler(
        self,
        sampling: SamplingParams,
        grammar: GrammarConstraint | None,
        *,
        ignore_eog: bool = False,
        logit_bias: Sequence[tuple[int, float]] = (),
    ) -> LlamaSampler:
        """Raises GrammarError for a grammar llama.cpp cannot parse."""
        biases = dict(logit_bias)
        if ignore_eog:
            biases.update(dict.fromkeys(self.eog_tokens, float("-inf")))
        return LlamaSampler(
            self.vocab,
            temperature=sampling.temperature,
            top_k=min(max(sampling.top_k, 0), self.vocab.n_tokens),
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            repeat_penalty=sampling.penalty_repeat,
            frequency_penalty=sampling.penalty_frequency,
            presence_penalty=sampling.penalty_presence,
            penalty_last_n=sampling.penalty_last_n,
            seed=sampling.seed,
            grammar=None if grammar is None else grammar.grammar,
            grammar_root="root" if grammar is None else grammar.root,
            logit_bias=biases or None,
        )

    def token_logprobs(self, batch_index: int, token: int, top: int) -> tuple[float, tuple[tuple[int, float], ...]]:
        """`token`'s log-probability under the raw logits at `batch_index`, and the `top` likeliest
        tokens with theirs, likeliest first."""
        assert self.generation_context is not None
        logits = self.generation_context.get_logits(batch_index).astype(numpy.float64)
        shifted = logits - logits.max()
        logprobs = shifted - numpy.log(numpy.exp(shifted).sum())
        best = numpy.argpartition(-logprobs, top)[:top] if 0 < top < len(logprobs) else numpy.arange(0)
        best = best[numpy.argsort(-logprobs[best])]
        return float(logprobs[token]), tuple((int(index), float(logprobs[index])) for index in best)

    def decode_generation(self, rows: Sequence[DecodeRow]) -> tuple[DecodeOutcome, list[int]]:
        """Decode the rows as one batch. Returns the outcome and, per row, the batch index whose
        logits belong to it (-1 when the row asked for none)."""
        assert self.generation_context is not None
        batch = self.generation_batch
        batch.clear()
        output_indices = [-1] * len(rows)
        # In sequence id order: with a KV stream per slot, llama.cpp puts into one micro-batch only
        # sequences whose ids follow each other in batch order, so any other order splits the step
        # into one graph computation per run of ids.
        for row_index in sorted(range(len(rows)), key=lambda index: rows[index].seq_id):
            row = rows[row_index]
            if len(row.tokens) == 1:
                last = batch.add_token(row.tokens[0], row.start_position, row.seq_id, row.wants_output)
            else:
                last = batch.add_sequence(row.tokens, row.start_position, row.seq_id, output_last=row.wants_output)
            if row.wants_output:
                output_indices[row_index] = last
        started = time.perf_counter()
        outcome = self.generation_context.decode(batch)
        self.decode_seconds += time.perf_counter() - started
        if outcome is DecodeOutcome.OK:
            self.copies_pending = False
        return outcome, output_indices

    def evaluate_image(self, chunks: MultimodalChunks, chunk_index: int, seq_id: int, position: int) -> int:
        """Encode an image chunk and write it into `seq_id` from `position` (GIL released); returns the
        next free position. Raises KvCacheFullError when the KV cache has no room for it, LlamaError for
        any other failure."""
        assert self.generation_context is not None
        assert self.multimodal is not None
        started = time.perf_counter()
        try:
            return self.multimodal.evaluate_image(
                self.generation_context,
                chunks,
                chunk_index,
                position,
                seq_id,
                self.generation_context.n_batch,
            )
        finally:
            self.decode_seconds += time.perf_counter() - started

    def new_output(self, markers: TokenMarkers, budget: int | None, *, keep_tool_call_bytes: bool) -> SequenceOutput:
        """A request's output in the binding: its tokens classified against `markers`, its text, and
        its `budget` of tokens outside tool calls (None: the context is the only bound)."""
        return SequenceOutput(
            self.vocab,
            (markers.reasoning_open, markers.reasoning_close, markers.tool_call_open, markers.tool_call_close),
            -1 if budget is None else budget,
            keep_tool_call_bytes=keep_tool_call_bytes,
        )

    def sample_step(
        self, samplers: Sequence[LlamaSampler], batch_indices: Sequence[int], outputs: Sequence[SequenceOutput]
    ) -> tuple[list[int], dict[int, str], list[int]]:
        """Sample every sequence of the step and push each token into its output (end of generation,
        markers, UTF-8 text, budget) in one call with the GIL released once (a release per sequence
        lets request threads take the GIL between them). Returns the tokens (-1 where no token
        satisfied a row's constraints), each such row's reason, and each row's OUTPUT_* flags."""
        assert self.generation_context is not None
        return sample_and_push(self.generation_context, samplers, batch_indices, outputs)

    def erase_sequence(self, seq_id: int, from_position: int = 0) -> bool:
        """Drop a sequence's cells from `from_position` on, expecting every position below it to stay.
        False when the memory could not: a recurrent state cannot be cut back part way (llama.cpp
        refuses, or clears it whole when cut at its last position). The caller then forgets the whole
        sequence, which never fails."""
        context = self.generation_context
        if context is None:
            return True
        if not context.seq_rm(seq_id, from_position, -1):
            return False
        held = context.seq_pos_range(seq_id)
        return (0 if held is None else held[1] + 1) == from_position

    def share_prefix(self, source: int, target: int, length: int) -> None:
        """Give sequence `target` the first `length` positions of `source`, dropping what it held. In one
        KV pool the cells are shared (metadata only; a cell lives while any sequence holds it); across KV
        streams the source's stream is copied at the next decode, then cut at `length`."""
        context = self.generation_context
        assert context is not None
        context.seq_rm(target, -1, -1)
        if context.kv_unified:
            context.seq_cp(source, target, 0, length)
        else:
            context.seq_cp(source, target)
            context.seq_rm(target, length, -1)
            self.copies_pending = True

    def first_cached_position(self, seq_id: int) -> int | None:
        """The smallest position the memory holds for a sequence (above 0 once a sliding window let
        older cells be overwritten), or None when it holds nothing."""
        if self.generation_context is None:
            return None
        held = self.generation_context.seq_pos_range(seq_id)
        return None if held is None else held[0]

    def save_sequence(self, seq_id: int) -> bytes:
        assert self.generation_context is not None
        return self.generation_context.save_sequence(seq_id)

    def restore_sequence(self, seq_id: int, state: bytes) -> bool:
        """Load a state saved by save_sequence, in this layout or (adaptive) the other one."""
        context = self.generation_context
        assert context is not None
        if self.adaptive:
            state = for_streams(state, 1, 0) if context.kv_unified else for_streams(state, self.settings.slots, seq_id)
        return context.restore_sequence(seq_id, state)

    def embed(self, documents: Sequence[Sequence[int]]) -> list[FloatVector]:
        """Pooled embedding of each document, decoded together in one batch from an empty cache."""
        context = self.embedding_context
        assert context is not None
        batch = self.embedding_batch
        batch.clear()
        context.memory_clear(data=False)
        last_indices = []
        for seq_id, tokens in enumerate(documents):
            # Pooling reads every token's output; marking them all keeps llama.cpp from overriding it.
            first = batch.fill(tokens, range(len(tokens)), [seq_id] * len(tokens), [True] * len(tokens))
            last_indices.append(first + len(tokens) - 1)
        started = time.perf_counter()
        outcome = context.decode(batch)
        self.decode_seconds += time.perf_counter() - started
        if outcome is not DecodeOutcome.OK:
            raise RuntimeError(f"embedding decode returned {outcome.name}")
        if context.pooling == "none":
            return [context.get_embeddings(index) for index in last_indices]
        return [context.get_sequence_embeddings(seq_id) for seq_id in range(len(documents))]

    def request_abort(self) -> None:
        """Callable from any thread: the running decode stops early."""
        for context in (self.generation_context, self.embedding_context):
            if context is not None:
                context.request_abort()

    def abort_generation(self) -> None:
        """Callable from any thread: the running generation decode stops early (embeddings go on)."""
        if self.generation_context is not None:
            self.generation_context.request_abort()

    def clear_abort(self) -> None:
        """Before a decode: an abort asked for after the previous one ended must not stop this one."""
        for context in (self.generation_context, self.embedding_context):
            if context is not None:
                context.clear_abort()

    def close(self) -> None:
        self._close_contexts()
        self.model.close()

    def _close_contexts(self) -> None:
        for context in (self.generation_context, self.embedding_context):
            if context is not None:
                context.close()
        self.generation_context = self.embedding_context = None
        for batch_name in ("generation_batch", "embedding_batch"):
            batch = getattr(self, batch_name, None)
            if batch is not None:
                batch.close()
