# cython: language_level=3
"""LlamaContext: one inference context (KV cache, compute buffers) over a LlamaModel.

decode() runs with the GIL released and returns a DecodeOutcome for the states a scheduler acts on;
only fatal failures raise. Logits and embeddings are read only at indices the last decode produced,
so no read ever reaches an unchecked llama.cpp accessor.
"""

import os
import warnings

import numpy

from libc.stdint cimport int8_t, int32_t, uint8_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from paddler.llama.libllama cimport (
    bool,
    GGML_TYPE_BF16,
    GGML_TYPE_F16,
    GGML_TYPE_F32,
    GGML_TYPE_IQ4_NL,
    GGML_TYPE_Q4_0,
    GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0,
    GGML_TYPE_Q5_1,
    GGML_TYPE_Q8_0,
    LLAMA_FLASH_ATTN_TYPE_AUTO,
    LLAMA_FLASH_ATTN_TYPE_DISABLED,
    LLAMA_FLASH_ATTN_TYPE_ENABLED,
    LLAMA_POOLING_TYPE_CLS,
    LLAMA_POOLING_TYPE_LAST,
    LLAMA_POOLING_TYPE_MEAN,
    LLAMA_POOLING_TYPE_NONE,
    LLAMA_POOLING_TYPE_RANK,
    LLAMA_POOLING_TYPE_UNSPECIFIED,
    llama_batch,
    llama_context,
    llama_context_default_params,
    llama_context_params,
    llama_decode,
    llama_free,
    llama_get_embeddings_ith,
    llama_get_embeddings_seq,
    llama_get_logits_ith,
    llama_get_memory,
    llama_get_pooling_type,
    llama_init_from_model,
    llama_max_parallel_sequences,
    llama_memory_clear,
    llama_memory_seq_cp,
    llama_memory_seq_keep,
    llama_memory_seq_pos_max,
    llama_memory_seq_pos_min,
    llama_memory_seq_rm,
    llama_memory_t,
    llama_model_get_vocab,
    llama_model_n_cls_out,
    llama_model_n_embd,
    llama_n_batch,
    llama_n_ctx,
    llama_n_ctx_seq,
    llama_n_ubatch,
    llama_set_n_threads,
    llama_state_seq_get_data,
    llama_state_seq_get_size,
    llama_state_seq_set_data,
    llama_supports_gpu_offload,
    llama_vocab_n_tokens,
)
from paddler.llama.llama_batch cimport LlamaBatch
from paddler.llama.llama_model cimport LlamaModel

from paddler.llama.context_memory import available_memory_bytes, estimate_kv_cache_bytes
from paddler.llama.decode_outcome import DecodeOutcome
from paddler.llama.llama_backend import capture_log
from paddler.llama.llama_error import (
    ClosedHandleError,
    ContextCreateError,
    DecodeError,
    InsufficientMemoryError,
    InvalidParameterError,
)

MAX_CONTEXT_TOKENS = 1 << 24
MAX_THREADS = 512  # GGML_MAX_N_THREADS

POOLING_TYPES = {
    None: LLAMA_POOLING_TYPE_UNSPECIFIED,
    "none": LLAMA_POOLING_TYPE_NONE,
    "mean": LLAMA_POOLING_TYPE_MEAN,
    "cls": LLAMA_POOLING_TYPE_CLS,
    "last": LLAMA_POOLING_TYPE_LAST,
    "rank": LLAMA_POOLING_TYPE_RANK,
}
_POOLING_NAMES = {value: key for key, value in POOLING_TYPES.items() if key is not None}
FLASH_ATTENTION_MODES = {
    "auto": LLAMA_FLASH_ATTN_TYPE_AUTO,
    "on": LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": LLAMA_FLASH_ATTN_TYPE_DISABLED,
}
_KV_CACHE_GGML_TYPES = {
    "f32": GGML_TYPE_F32,
    "f16": GGML_TYPE_F16,
    "bf16": GGML_TYPE_BF16,
    "q8_0": GGML_TYPE_Q8_0,
    "q5_1": GGML_TYPE_Q5_1,
    "q5_0": GGML_TYPE_Q5_0,
    "q4_1": GGML_TYPE_Q4_1,
    "q4_0": GGML_TYPE_Q4_0,
    "iq4_nl": GGML_TYPE_IQ4_NL,
}


cdef bool _abort_requested(void * data) noexcept nogil:
    return (<int *>data)[0] != 0


def _choose(name, value, choices):
    if value not in choices:
        raise InvalidParameterError(f"{name} must be one of {sorted(map(str, choices))}, got {value!r}")
    return choices[value]


def _check_range(name, value, low, high):
    if not low <= value <= high:
        raise InvalidParameterError(f"{name} must be {low}..{high}, got {value}")


def _check_memory(LlamaModel model, int n_ctx, str type_k, str type_v):
    if model.n_gpu_layers != 0 and llama_supports_gpu_offload():
        return  # the KV cache goes to the device; llama.cpp reports a failed device allocation
    needed = estimate_kv_cache_bytes(model, n_ctx, type_k, type_v)
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise InsufficientMemoryError(
            f"a context of {n_ctx} tokens needs about {needed / 2**30:.1f} GiB of KV cache; "
            f"only {available / 2**30:.1f} GiB of memory is available")


cdef class LlamaContext:
    """A context over `model` for `n_seq_max` parallel sequences sharing `n_ctx` tokens of KV cache.

    n_ctx=0 takes the model's training context. With kv_unified=False each sequence gets
    n_ctx / n_seq_max cells of its own; with True all sequences share one pool.
    """

    def __cinit__(self):
        self._handle = NULL
        self._outputs = NULL
        self._outputs_count = 0
        self._outputs_capacity = 0
        self._abort_requested = 0

    def __init__(self, LlamaModel model not None, *, int n_ctx=4096, int n_batch=2048, n_ubatch=None,
                 int n_seq_max=1, n_threads=None, n_threads_batch=None, bint embeddings=False,
                 pooling=None, flash_attention="auto", str type_k="f16", str type_v="f16",
                 bint kv_unified=False):
        model.handle()
        if n_ctx == 0:
            n_ctx = model.n_ctx_train
        _check_range("n_ctx", n_ctx, 1, MAX_CONTEXT_TOKENS)
        _check_range("n_batch", n_batch, 1, MAX_CONTEXT_TOKENS)
        ubatch = min(512, n_batch) if n_ubatch is None else n_ubatch
        _check_range("n_ubatch", ubatch, 1, n_batch)
        # llama.cpp reserves an output row per sequence within n_batch rows, and aborts otherwise.
        _check_range("n_seq_max", n_seq_max, 1, min(llama_max_parallel_sequences(), n_batch))
        threads = n_threads if n_threads is not None else (os.cpu_count() or 1)
        _check_range("n_threads", threads, 1, MAX_THREADS)
        threads_batch = n_threads_batch if n_threads_batch is not None else threads
        _check_range("n_threads_batch", threads_batch, 1, MAX_THREADS)
        cdef llama_context_params params = llama_context_default_params()
        params.pooling_type = _choose("pooling", pooling, POOLING_TYPES)
        params.flash_attn_type = _choose("flash_attention", flash_attention, FLASH_ATTENTION_MODES)
        params.type_k = _choose("type_k", type_k, _KV_CACHE_GGML_TYPES)
        params.type_v = _choose("type_v", type_v, _KV_CACHE_GGML_TYPES)
        _check_memory(model, n_ctx, type_k, type_v)
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = ubatch
        params.n_seq_max = n_seq_max
        params.n_threads = threads
        params.n_threads_batch = threads_batch
        params.embeddings = embeddings
        params.kv_unified = kv_unified
        params.no_perf = True
        params.abort_callback = _abort_requested
        params.abort_callback_data = &self._abort_requested
        cdef llama_context * handle
        with capture_log() as messages:
            with nogil:
                handle = llama_init_from_model(model._handle, params)
        if handle == NULL:
            reason = "; ".join(messages[-4:]) or "llama.cpp gave no reason"
            raise ContextCreateError(f"cannot create a context of {n_ctx} tokens: {reason}")
        self._handle = handle
        self.model = model
        self.embeddings = embeddings
        self.kv_unified = kv_unified
        self.n_seq_max = n_seq_max
        self.n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model._handle))
        self.n_embd = llama_model_n_embd(model._handle)
        model._register_dependent(self)

    cdef llama_context * handle(self) except NULL:
        if self._handle == NULL:
            raise ClosedHandleError("the context was closed")
        return self._handle

    def close(self):
        """Free the context (KV cache and buffers). Safe to call twice."""
        cdef llama_context * handle = self._handle
        self._handle = NULL
        if handle != NULL:
            with nogil:
                llama_free(handle)
        free(self._outputs)
        self._outputs = NULL
        self._outputs_capacity = 0
        self._outputs_count = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __dealloc__(self):
        if self._handle != NULL:
            warnings.warn("LlamaContext was not closed", ResourceWarning)
            llama_free(self._handle)
        free(self._outputs)

    @property
    def closed(self):
        return self._handle == NULL

    @property
    def n_ctx(self):
        return llama_n_ctx(self.handle())

    @property
    def n_ctx_seq(self):
        """KV cells one sequence can use."""
        return llama_n_ctx_seq(self.handle())

    @property
    def n_batch(self):
        return llama_n_batch(self.handle())

    @property
    def n_ubatch(self):
        return llama_n_ubatch(self.handle())

    @property
    def pooling(self):
        return _POOLING_NAMES.get(llama_get_pooling_type(self.handle()), "none")

    def set_threads(self, int n_threads, int n_threads_batch):
        _check_range("n_threads", n_threads, 1, MAX_THREADS)
        _check_range("n_threads_batch", n_threads_batch, 1, MAX_THREADS)
        llama_set_n_threads(self.handle(), n_threads, n_threads_batch)

    def request_abort(self):
        """Make the running (or next) decode stop early and return ABORTED. Any thread may call it."""
        self._abort_requested = 1

    def clear_abort(self):
        self._abort_requested = 0

    def decode(self, LlamaBatch batch not None):
        """Run the model over the batch with the GIL released."""
        cdef llama_context * handle = self.handle()
        self._check_batch(batch)
        cdef llama_batch c_batch = batch._batch
        cdef int32_t result
        self._outputs_count = 0
        # An abort we asked for and a full KV cache are outcomes the engine handles: llama.cpp's error
        # lines about them would only alarm whoever reads the log.
        with capture_log(hold=True) as messages:
            with nogil:
                result = llama_decode(handle, c_batch)
            if result in (1, 2):
                messages.quiet()
        if result == 0:
            self._remember_outputs(batch)
            return DecodeOutcome.OK
        if result == 1:
            return DecodeOutcome.NO_KV_SLOT
        if result == 2:
            return DecodeOutcome.ABORTED
        reason = "; ".join(messages[-4:]) or "no reason given"
        raise DecodeError(f"llama_decode failed with code {result}: {reason}")

    def _check_batch(self, LlamaBatch batch):
        if batch.n_tokens == 0:
            raise InvalidParameterError("cannot decode an empty batch")
        if batch.n_tokens > llama_n_batch(self._handle):
            raise InvalidParameterError(
                f"batch of {batch.n_tokens} tokens exceeds n_batch={llama_n_batch(self._handle)}")
        if batch.max_token >= self.n_vocab:
            raise InvalidParameterError(f"token id {batch.max_token} is outside the vocabulary [0, {self.n_vocab})")
        if batch.max_seq_id >= self.n_seq_max:
            raise InvalidParameterError(f"sequence id {batch.max_seq_id} exceeds n_seq_max={self.n_seq_max}")

    cdef void _remember_outputs(self, LlamaBatch batch):
        cdef int32_t count = batch._batch.n_tokens
        cdef int8_t * grown
        if count > self._outputs_capacity:
            grown = <int8_t *>realloc(self._outputs, count)
            if grown == NULL:
                return  # outputs stay unreadable rather than wrong
            self._outputs = grown
            self._outputs_capacity = count
        memcpy(self._outputs, batch._batch.logits, count)
        self._outputs_count = count

    cdef int check_output(self, int32_t batch_index) except -1:
        if batch_index < 0 or batch_index >= self._outputs_count or not self._outputs[batch_index]:
            raise InvalidParameterError(f"batch index {batch_index} produced no output in the last decode")
        return 0

    def has_output(self, int batch_index):
        return 0 <= batch_index < self._outputs_count and self._outputs[batch_index] != 0

    def get_logits(self, int batch_index):
        """A copy of the n_vocab logits the last decode produced at `batch_index`."""
        cdef llama_context * handle = self.handle()
        self.check_output(batch_index)
        return _copy_floats(llama_get_logits_ith(handle, batch_index), self.n_vocab, "logits")

    def get_embeddings(self, int batch_index):
        """A copy of the token embedding at `batch_index` (contexts with embeddings on)."""
        cdef llama_context * handle = self.handle()
        self.check_output(batch_index)
        if not self.embeddings:
            raise InvalidParameterError("this context was created with embeddings off")
        return _copy_floats(llama_get_embeddings_ith(handle, batch_index), self.n_embd, "embeddings")

    def get_sequence_embeddings(self, int seq_id):
        """A copy of the pooled embedding of `seq_id` (n_cls_out scores with rank pooling)."""
        cdef llama_context * handle = self.handle()
        self._check_seq_id(seq_id)
        if not self.embeddings or llama_get_pooling_type(handle) == LLAMA_POOLING_TYPE_NONE:
            raise InvalidParameterError("sequence embeddings need embeddings on and a pooling type")
        width = self.n_embd
        if llama_get_pooling_type(handle) == LLAMA_POOLING_TYPE_RANK:
            width = llama_model_n_cls_out(self.model._handle)
        return _copy_floats(llama_get_embeddings_seq(handle, seq_id), width, "sequence embeddings")

    def _check_seq_id(self, seq_id, allow_all=False):
        low = -1 if allow_all else 0
        if not low <= seq_id < self.n_seq_max:
            raise InvalidParameterError(f"sequence id must be {low}..{self.n_seq_max - 1}, got {seq_id}")

    cdef llama_memory_t _memory(self) except? NULL:
        # NULL for models that keep no memory (BERT-like encoders); llama.cpp's memory calls accept it.
        return llama_get_memory(self.handle())

    def memory_clear(self, bint data=True):
        """Forget every sequence; with data, also zero the cache buffers."""
        llama_memory_clear(self._memory(), data)

    def seq_rm(self, int seq_id, int p0=-1, int p1=-1):
        """Remove positions [p0, p1) of `seq_id` (-1 = every sequence; negative bounds = open). False when
        the memory cannot remove part of a sequence (a recurrent state): nothing was removed then.
        Removing a whole sequence never fails."""
        self._check_seq_id(seq_id, allow_all=True)
        return llama_memory_seq_rm(self._memory(), seq_id, p0, p1)

    def seq_cp(self, int source, int destination, int p0=-1, int p1=-1):
        """Share positions [p0, p1) of `source` with `destination`."""
        self._check_seq_id(source)
        self._check_seq_id(destination)
        if not self.kv_unified and self.n_seq_max > 1 and (p0 > 0 or p1 >= 0):
            raise InvalidParameterError("copying part of a sequence needs kv_unified=True")
        llama_memory_seq_cp(self._memory(), source, destination, p0, p1)

    def seq_keep(self, int seq_id):
        """Drop every sequence but `seq_id`."""
        self._check_seq_id(seq_id)
        llama_memory_seq_keep(self._memory(), seq_id)

    def seq_pos_range(self, int seq_id):
        """(first, last) position of `seq_id` in the cache, or None when it holds nothing. Every position
        in between is present; first is above 0 only once a sliding window let older cells be reused."""
        self._check_seq_id(seq_id)
        cdef llama_memory_t memory = self._memory()
        first = llama_memory_seq_pos_min(memory, seq_id)
        if first < 0:
            return None
        return (first, llama_memory_seq_pos_max(memory, seq_id))

    def save_sequence(self, int seq_id):
        """A copy of `seq_id`'s KV cache (and positions), for restore_sequence() later."""
        cdef llama_context * handle = self.handle()
        self._check_seq_id(seq_id)
        cdef size_t size
        cdef size_t written
        with nogil:
            size = llama_state_seq_get_size(handle, seq_id)
        cdef bytearray data = bytearray(size)
        cdef uint8_t * destination = data
        with nogil:
            written = llama_state_seq_get_data(handle, destination, size, seq_id)
        if written != size:
            raise DecodeError(f"could not copy the state of sequence {seq_id}")
        return bytes(data)

    def restore_sequence(self, int seq_id, const uint8_t[::1] data not None):
        """Load a saved sequence state into `seq_id`, which should be empty. False when it does not
        fit (no free KV cells) or does not match this context; the sequence is then left empty."""
        cdef llama_context * handle = self.handle()
        self._check_seq_id(seq_id)
        if data.shape[0] == 0:
            return False
        cdef size_t loaded
        with capture_log():
            with nogil:
                loaded = llama_state_seq_set_data(handle, &data[0], data.shape[0], seq_id)
        if loaded == 0:
            llama_memory_seq_rm(llama_get_memory(handle), seq_id, -1, -1)
            return False
        return True

    def __repr__(self):
        state = "closed" if self._handle == NULL else f"n_ctx={self.n_ctx}, n_seq_max={self.n_seq_max}"
        return f"<LlamaContext {state}>"


cdef object _copy_floats(const float * values, int32_t count, str what):
    if values == NULL:
        raise InvalidParameterError(f"llama.cpp has no {what} for this request")
    result = numpy.empty(count, dtype=numpy.float32)
    cdef float[::1] view = result
    memcpy(&view[0], values, count * sizeof(float))
    return result
