# cython: language_level=3
"""LlamaModel: one loaded GGUF model (weights and vocabulary), freed exactly once."""

import os
import warnings
import weakref

from libc.stdint cimport int32_t

from paddler.llama.libllama cimport (
    bool,
    bool,
    LLAMA_LOAD_MODE_MLOCK,
    LLAMA_LOAD_MODE_MMAP,
    LLAMA_LOAD_MODE_MMAP_MLOCK,
    LLAMA_LOAD_MODE_NONE,
    llama_model,
    llama_model_chat_template,
    llama_model_default_params,
    llama_model_desc,
    llama_model_free,
    llama_model_has_decoder,
    llama_model_has_encoder,
    llama_model_is_hybrid,
    llama_model_is_recurrent,
    llama_model_load_from_file,
    llama_model_meta_count,
    llama_model_meta_key_by_index,
    llama_model_meta_val_str_by_index,
    llama_model_n_ctx_train,
    llama_model_n_embd,
    llama_model_n_head,
    llama_model_n_head_kv,
    llama_model_n_layer,
    llama_model_n_params,
    llama_model_n_swa,
    llama_model_params,
    llama_model_size,
    llama_supports_mlock,
)

from paddler.llama.llama_backend import capture_log, ensure_backend
from paddler.llama.llama_error import (
    ClosedHandleError,
    CorruptModelFileError,
    InvalidParameterError,
    ModelLoadCancelledError,
    ModelLoadError,
    UnsupportedArchitectureError,
)
from paddler.llama.model_file import check_model_file

# n_gpu_layers beyond any real model's depth means "all"; -1 says the same.
MAX_GPU_LAYERS = 100_000


cdef class _ProgressRelay:
    """Carries a Python progress callable through llama.cpp's C callback, and any error it raised."""
    cdef object callback
    cdef object error
    cdef bint cancelled

    def __cinit__(self, callback):
        self.callback = callback
        self.error = None
        self.cancelled = False

    cdef bint report(self, float progress):
        try:
            keep_going = self.callback(float(progress))
        except BaseException as error:
            self.error = error
            return False
        if keep_going is False:
            self.cancelled = True
            return False
        return True


cdef bool _relay_progress(float progress, void * user_data) noexcept nogil:
    with gil:
        return (<_ProgressRelay>user_data).report(progress)


cdef bool _ignore_progress(float progress, void * user_data) noexcept nogil:
    # Without a callback llama.cpp prints progress dots to its log; this keeps it quiet.
    return True


def _load_failure(path, messages):
    reason = "; ".join(messages[-4:]) or "llama.cpp gave no reason"
    if any("unknown model architecture" in message for message in messages):
        return UnsupportedArchitectureError(f"unsupported model architecture in {path}: {reason}")
    return CorruptModelFileError(f"cannot load model {path}: {reason}")


cdef class LlamaModel:
    """A GGUF model loaded from a path, with the GIL released during the load.

    progress: called with a float in [0, 1] as the load advances; returning False cancels the load.
    """

    def __cinit__(self):
        self._handle = NULL
        self._metadata = None
        self._vocab = None
        self._dependents = weakref.WeakSet()

    def __init__(self, path, *, int n_gpu_layers=0, bint use_mmap=True, bint use_mlock=False,
                 bint vocab_only=False, progress=None):
        if not -1 <= n_gpu_layers <= MAX_GPU_LAYERS:
            raise InvalidParameterError(f"n_gpu_layers must be -1 (all) or 0..{MAX_GPU_LAYERS}, got {n_gpu_layers}")
        self.path = check_model_file(path)
        self.n_gpu_layers = n_gpu_layers
        ensure_backend()
        if use_mlock and not llama_supports_mlock():
            raise InvalidParameterError("use_mlock is not supported on this platform")
        cdef llama_model_params params = llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        params.vocab_only = vocab_only
        if use_mmap:
            params.load_mode = LLAMA_LOAD_MODE_MMAP_MLOCK if use_mlock else LLAMA_LOAD_MODE_MMAP
        else:
            params.load_mode = LLAMA_LOAD_MODE_MLOCK if use_mlock else LLAMA_LOAD_MODE_NONE
        relay = _ProgressRelay(progress)
        if progress is None:
            params.progress_callback = _ignore_progress
        else:
            params.progress_callback = _relay_progress
            params.progress_callback_user_data = <void *>relay
        cdef bytes encoded_path = os.fsencode(self.path)
        cdef const char * c_path = encoded_path
        cdef llama_model * handle
        with capture_log() as messages:
            with nogil:
                handle = llama_model_load_from_file(c_path, params)
        if handle == NULL:
            if relay.error is not None:
                raise ModelLoadError(f"model load stopped by the progress callback: {relay.error!r}") from relay.error
            if relay.cancelled:
                raise ModelLoadCancelledError(f"model load cancelled: {self.path}")
            raise _load_failure(self.path, messages)
        self._handle = handle

    cdef llama_model * handle(self) except NULL:
        if self._handle == NULL:
            raise ClosedHandleError("the model was closed")
        return self._handle

    def close(self):
        """Free the model, after closing every context still using it. Safe to call twice."""
        if self._handle == NULL:
            return
        for dependent in list(self._dependents):
            dependent.close()
        cdef llama_model * handle = self._handle
        self._handle = NULL
        with nogil:
            llama_model_free(handle)

    def _register_dependent(self, dependent):
        self._dependents.add(dependent)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __dealloc__(self):
        if self._handle != NULL:
            warnings.warn(f"LlamaModel {self.path} was not closed", ResourceWarning)
            llama_model_free(self._handle)
            self._handle = NULL

    @property
    def closed(self):
        return self._handle == NULL

    @property
    def vocab(self):
        if self._vocab is None:
            from paddler.llama.llama_vocab import LlamaVocab  # llama_vocab cimports this module

            self._vocab = LlamaVocab(self)
        return self._vocab

    @property
    def description(self):
        cdef char buffer[256]
        cdef int32_t length = llama_model_desc(self.handle(), buffer, sizeof(buffer))
        return buffer[:max(0, min(length, <int32_t>sizeof(buffer) - 1))].decode("utf-8", "replace")

    @property
    def size_bytes(self):
        return llama_model_size(self.handle())

    @property
    def n_params(self):
        return llama_model_n_params(self.handle())

    @property
    def n_ctx_train(self):
        return llama_model_n_ctx_train(self.handle())

    @property
    def n_embd(self):
        return llama_model_n_embd(self.handle())

    @property
    def n_layer(self):
        return llama_model_n_layer(self.handle())

    @property
    def n_head(self):
        return llama_model_n_head(self.handle())

    @property
    def n_head_kv(self):
        return llama_model_n_head_kv(self.handle())

    @property
    def n_swa(self):
        """Sliding attention window in tokens; 0 when every layer sees the whole context."""
        return llama_model_n_swa(self.handle())

    @property
    def has_encoder(self):
        return llama_model_has_encoder(self.handle())

    @property
    def has_decoder(self):
        return llama_model_has_decoder(self.handle())

    @property
    def is_recurrent(self):
        """Mamba, RWKV and the like: one state per sequence, which cannot be cut back part way."""
        return llama_model_is_recurrent(self.handle())

    @property
    def is_hybrid(self):
        """Attention layers beside recurrent ones (Jamba, Granite-H, LFM2, Qwen3-Next): cut like recurrent."""
        return llama_model_is_hybrid(self.handle())

    @property
    def chat_template(self):
        """The model's default chat template (`tokenizer.chat_template`), or None."""
        cdef const char * template = llama_model_chat_template(self.handle(), NULL)
        if template == NULL:
            return None
        return (<bytes>template).decode("utf-8", "replace")

    @property
    def metadata(self):
        """Every GGUF metadata key with its value as llama.cpp renders it (a copy)."""
        if self._metadata is None:
            self._metadata = self._read_metadata()
        return dict(self._metadata)

    cdef dict _read_metadata(self):
        cdef llama_model * handle = self.handle()
        cdef int32_t count = llama_model_meta_count(handle)
        cdef int32_t index
        cdef char key_buffer[512]
        cdef int32_t key_length
        entries = {}
        for index in range(count):
            key_length = llama_model_meta_key_by_index(handle, index, key_buffer, sizeof(key_buffer))
            if key_length < 0:
                continue
            key = key_buffer[:min(key_length, <int32_t>sizeof(key_buffer) - 1)].decode("utf-8", "replace")
            entries[key] = _meta_value(handle, index)
        return entries

    def __repr__(self):
        state = "closed" if self._handle == NULL else self.description
        return f"<LlamaModel {self.path} ({state})>"


cdef str _meta_value(llama_model * handle, int32_t index):
    cdef bytearray buffer = bytearray(4096)
    cdef int32_t length = llama_model_meta_val_str_by_index(handle, index, buffer, len(buffer))
    if length >= len(buffer):
        buffer = bytearray(length + 1)
        length = llama_model_meta_val_str_by_index(handle, index, buffer, len(buffer))
    if length < 0:
        return ""
    return bytes(buffer[:length]).decode("utf-8", "replace")
