# cython: language_level=3
"""LlamaMultimodal: a multimodal projector (llama.cpp's mtmd) loaded next to a LlamaModel.

tokenize() turns prompt text pieces and RGB images into MultimodalChunks: text chunks carry token ids
the engine decodes like any prompt; image chunks are encoded by the projector and written into a
sequence by evaluate_image(), with the GIL released. Tokenizing is thread-safe (mtmd shares the
context read-only); evaluating is not and belongs to the thread that owns the LlamaContext.
"""

import os
import warnings

import numpy

from libc.stdint cimport int32_t
from libc.stdlib cimport free, malloc

from paddler.llama.libllama cimport llama_context, llama_pos
from paddler.llama.libmtmd cimport (
    MTMD_INPUT_CHUNK_TYPE_IMAGE,
    MTMD_INPUT_CHUNK_TYPE_TEXT,
    mtmd_bitmap,
    mtmd_bitmap_free,
    mtmd_bitmap_init,
    mtmd_bitmap_set_id,
    mtmd_context,
    mtmd_context_params,
    mtmd_context_params_default,
    mtmd_decode_use_mrope,
    mtmd_decode_use_non_causal,
    mtmd_free,
    mtmd_helper_eval_chunk_single,
    mtmd_helper_log_set,
    mtmd_init_from_file,
    mtmd_input_chunk,
    mtmd_input_chunk_get_id,
    mtmd_input_chunk_get_n_pos,
    mtmd_input_chunk_get_n_tokens,
    mtmd_input_chunk_get_tokens_text,
    mtmd_input_chunk_get_type,
    mtmd_input_chunks,
    mtmd_input_chunks_free,
    mtmd_input_chunks_get,
    mtmd_input_chunks_init,
    mtmd_input_chunks_size,
    mtmd_input_part,
    mtmd_input_text,
    mtmd_support_audio,
    mtmd_support_vision,
    mtmd_tokenize_from_parts,
)
from paddler.llama.llama_backend cimport _log_callback
from paddler.llama.llama_context cimport LlamaContext
from paddler.llama.llama_model cimport LlamaModel

from paddler.llama.llama_backend import capture_log
from paddler.llama.llama_error import (
    ClosedHandleError,
    DecodeError,
    InvalidParameterError,
    KvCacheFullError,
    ModelFileNotFoundError,
    ModelLoadError,
    TokenizeError,
)

MAX_IMAGE_SIDE = 1 << 14
MAX_PARTS = 1 << 12
TEXT = "text"
IMAGE = "image"
AUDIO = "audio"

# mtmd and its helpers log through the binding's sink, like llama.cpp: into `logging`, and into
# capture_log() blocks.
mtmd_helper_log_set(_log_callback, NULL)


cdef class LlamaMultimodal:
    """The projector at `path` for `model` (its output width must match the model's embedding width)."""

    cdef mtmd_context * _handle
    cdef readonly LlamaModel model
    cdef readonly object path
    cdef object __weakref__

    def __cinit__(self):
        self._handle = NULL

    def __init__(self, LlamaModel model not None, path, *, n_threads=None, bint use_gpu=True):
        model.handle()
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise ModelFileNotFoundError(f"no multimodal projector file at {self.path}")
        cdef mtmd_context_params params = mtmd_context_params_default()
        params.use_gpu = use_gpu and model.n_gpu_layers != 0
        params.print_timings = False
        params.warmup = False
        params.n_threads = n_threads if n_threads is not None else (os.cpu_count() or 1)
        encoded = self.path.encode()
        cdef const char * c_path = encoded
        cdef mtmd_context * handle
        with capture_log() as messages:
            with nogil:
                handle = mtmd_init_from_file(c_path, model._handle, params)
        if handle == NULL:
            reason = "; ".join(messages[-4:]) or "llama.cpp gave no reason"
            raise ModelLoadError(f"cannot load the multimodal projector {self.path}: {reason}")
        self._handle = handle
        self.model = model
        model._register_dependent(self)

    cdef mtmd_context * handle(self) except NULL:
        if self._handle == NULL:
            raise ClosedHandleError("the multimodal projector was closed")
        return self._handle

    def close(self):
        """Free the projector. Safe to call twice."""
        cdef mtmd_context * handle = self._handle
        self._handle = NULL
        if handle != NULL:
            with nogil:
                mtmd_free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __dealloc__(self):
        if self._handle != NULL:
            warnings.warn("LlamaMultimodal was not closed", ResourceWarning)
            mtmd_free(self._handle)

    @property
    def closed(self):
        return self._handle == NULL

    @property
    def supports_vision(self):
        return mtmd_support_vision(self.handle())

    @property
    def supports_audio(self):
        return mtmd_support_audio(self.handle())

    @property
    def uses_mrope(self):
        """Whether images take fewer positions than KV cells (M-RoPE, Qwen2-VL and its kin)."""
        return mtmd_decode_use_mrope(self.handle())

    def tokenize(self, parts, *, bint add_special=False, bint parse_special=True):
        """Chunks for `parts`, in order: each a str (prompt text) or an (width, height, rgb, image_id)
        tuple (rgb: width*height*3 bytes, row-major; image_id names the image's content)."""
        cdef mtmd_context * handle = self.handle()
        if not 1 <= len(parts) <= MAX_PARTS:
            raise InvalidParameterError(f"a prompt takes 1..{MAX_PARTS} parts, got {len(parts)}")
        cdef Py_ssize_t count = len(parts)
        cdef mtmd_input_part * c_parts = <mtmd_input_part *>malloc(count * sizeof(mtmd_input_part))
        cdef mtmd_input_text * texts = <mtmd_input_text *>malloc(count * sizeof(mtmd_input_text))
        cdef const mtmd_input_part ** pointers = <const mtmd_input_part **>malloc(count * sizeof(void *))
        cdef mtmd_input_chunks * chunks = NULL
        cdef int32_t result
        keep = []
        try:
            if c_parts == NULL or texts == NULL or pointers == NULL:
                raise MemoryError("cannot allocate the prompt's parts")
            for index in range(count):
                c_parts[index].text = NULL
                c_parts[index].bitmap = NULL
                pointers[index] = &c_parts[index]
            for index, part in enumerate(parts):
                if isinstance(part, str):
                    encoded = part.encode()
                    keep.append(encoded)
                    texts[index].text = encoded
                    texts[index].text_len = len(encoded)
                    texts[index].add_special = add_special
                    texts[index].parse_special = parse_special
                    c_parts[index].text = &texts[index]
                else:
                    width, height, rgb, image_id = part
                    c_parts[index].bitmap = _bitmap(width, height, rgb, image_id)
            chunks = mtmd_input_chunks_init()
            if chunks == NULL:
                raise MemoryError("cannot allocate the prompt's chunks")
            with capture_log() as messages:
                with nogil:
                    result = mtmd_tokenize_from_parts(handle, chunks, pointers, count, add_special)
            if result != 0:
                reason = "; ".join(messages[-4:]) or f"code {result}"
                raise TokenizeError(f"the projector could not tokenize the prompt: {reason}")
            wrapped = MultimodalChunks._wrap(chunks)
            chunks = NULL
            return wrapped
        finally:
            if chunks != NULL:
                mtmd_input_chunks_free(chunks)
            if c_parts != NULL:
                for index in range(count):
                    if c_parts[index].bitmap != NULL:
                        mtmd_bitmap_free(<mtmd_bitmap *>c_parts[index].bitmap)
            free(c_parts)
            free(texts)
            free(pointers)

    def needs_one_micro_batch(self, MultimodalChunks chunks not None, int index):
        """Whether image chunk `index` is attended non-causally (Gemma 3), so all its tokens must be
        decoded in one micro-batch (n_ubatch at least its token count)."""
        return mtmd_decode_use_non_causal(self.handle(), chunks._chunk(index))

    def evaluate_image(self, LlamaContext context not None, MultimodalChunks chunks not None, int index,
                       int n_past, int seq_id, int n_batch):
        """Encode image chunk `index` and write it into `seq_id` from position `n_past`, with the GIL
        released; returns the next free position. Runs on the thread that owns `context`. Raises
        KvCacheFullError when the KV cache has no room for it, DecodeError for any other failure."""
        cdef mtmd_context * handle = self.handle()
        cdef const mtmd_input_chunk * chunk = chunks._chunk(index)
        if mtmd_input_chunk_get_type(chunk) != MTMD_INPUT_CHUNK_TYPE_IMAGE:
            raise InvalidParameterError(f"chunk {index} is not an image")
        context._check_seq_id(seq_id)
        if not 1 <= n_batch <= context.n_batch:
            raise InvalidParameterError(f"n_batch must be 1..{context.n_batch}, got {n_batch}")
        if n_past < 0:
            raise InvalidParameterError(f"n_past must be at least 0, got {n_past}")
        cdef llama_pos next_position = n_past
        cdef int32_t result
        cdef llama_pos c_n_past = n_past
        cdef int32_t c_seq_id = seq_id
        cdef int32_t c_n_batch = n_batch
        cdef llama_context * c_context = context.handle()
        with capture_log() as messages:
            with nogil:
                result = mtmd_helper_eval_chunk_single(
                    handle, c_context, chunk, c_n_past, c_seq_id, c_n_batch, False, &next_position)
        # The helper decoded batches of its own: none of the last decode's outputs are ours to read.
        context._outputs_count = 0
        if result != 0:
            reason = "; ".join(messages[-4:]) or f"code {result}"
            full = any("failed to find a memory slot" in message for message in messages)
            raise (KvCacheFullError if full else DecodeError)(f"the image could not be evaluated: {reason}")
        return next_position

    def __repr__(self):
        return f"<LlamaMultimodal {'closed' if self._handle == NULL else self.path}>"


cdef mtmd_bitmap * _bitmap(width, height, rgb, image_id) except NULL:
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise InvalidParameterError(f"an image must be 1..{MAX_IMAGE_SIDE} pixels a side, got {width}x{height}")
    cdef const unsigned char[::1] pixels = rgb
    if pixels.shape[0] != width * height * 3:
        raise InvalidParameterError(f"a {width}x{height} RGB image needs {width * height * 3} bytes")
    cdef mtmd_bitmap * bitmap = mtmd_bitmap_init(width, height, &pixels[0])
    if bitmap == NULL:
        raise MemoryError("cannot allocate an image")
    encoded_id = str(image_id).encode()
    mtmd_bitmap_set_id(bitmap, encoded_id)
    return bitmap


cdef class MultimodalChunks:
    """The chunks of one tokenized prompt: text runs and images, in order. Owns its mtmd chunks."""

    cdef mtmd_input_chunks * _handle
    cdef readonly Py_ssize_t count

    def __cinit__(self):
        self._handle = NULL
        self.count = 0

    @staticmethod
    cdef MultimodalChunks _wrap(mtmd_input_chunks * handle):
        cdef MultimodalChunks chunks = MultimodalChunks.__new__(MultimodalChunks)
        chunks._handle = handle
        chunks.count = mtmd_input_chunks_size(handle)
        return chunks

    def __dealloc__(self):
        if self._handle != NULL:
            mtmd_input_chunks_free(self._handle)

    def __len__(self):
        return self.count

    cdef const mtmd_input_chunk * _chunk(self, Py_ssize_t index) except NULL:
        if not 0 <= index < self.count:
            raise InvalidParameterError(f"chunk index must be 0..{self.count - 1}, got {index}")
        return mtmd_input_chunks_get(self._handle, index)

    def kind(self, Py_ssize_t index):
        """"text", "image" or "audio"."""
        chunk_type = mtmd_input_chunk_get_type(self._chunk(index))
        if chunk_type == MTMD_INPUT_CHUNK_TYPE_TEXT:
            return TEXT
        return IMAGE if chunk_type == MTMD_INPUT_CHUNK_TYPE_IMAGE else AUDIO

    def text_tokens(self, Py_ssize_t index):
        """The token ids of text chunk `index`, as an int32 array."""
        cdef size_t n_tokens = 0
        cdef const int32_t * tokens = mtmd_input_chunk_get_tokens_text(self._chunk(index), &n_tokens)
        if tokens == NULL:
            raise InvalidParameterError(f"chunk {index} is not text")
        result = numpy.empty(n_tokens, dtype=numpy.int32)
        cdef int32_t[::1] view = result
        for position in range(n_tokens):
            view[position] = tokens[position]
        return result

    def n_tokens(self, Py_ssize_t index):
        """KV cells chunk `index` takes."""
        return mtmd_input_chunk_get_n_tokens(self._chunk(index))

    def n_positions(self, Py_ssize_t index):
        """Positions chunk `index` advances (fewer than its tokens with M-RoPE)."""
        return mtmd_input_chunk_get_n_pos(self._chunk(index))

    def chunk_id(self, Py_ssize_t index):
        """The image id given to tokenize() for an image chunk; None for text."""
        cdef const char * value = mtmd_input_chunk_get_id(self._chunk(index))
        return None if value == NULL else value.decode()
