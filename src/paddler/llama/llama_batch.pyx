# cython: language_level=3, boundscheck=False, wraparound=False
"""LlamaBatch: one owned llama_batch, filled many tokens at a time.

The engine builds one batch per step from many sequences; `fill` and `add_sequence` copy whole
arrays in one call, so no Python code runs per token. Token ids and sequence ids can only be
checked against a context, so the batch records their maxima and LlamaContext.decode checks them.
"""

import numpy

from libc.stdint cimport int8_t, int32_t

from paddler.llama.libllama cimport llama_batch_free, llama_batch_init

from paddler.llama.llama_error import InvalidParameterError

MAX_BATCH_TOKENS = 1 << 24
MAX_SEQUENCES_PER_TOKEN = 256


cdef inline const int32_t[::1] _int32_array(values):
    return numpy.ascontiguousarray(values, dtype=numpy.int32)


cdef class LlamaBatch:
    """Room for `capacity` tokens, each belonging to up to `n_seq_per_token` sequences."""

    def __cinit__(self, int capacity, int n_seq_per_token=1):
        self._allocated = False
        if not 1 <= capacity <= MAX_BATCH_TOKENS:
            raise InvalidParameterError(f"batch capacity must be 1..{MAX_BATCH_TOKENS}, got {capacity}")
        if not 1 <= n_seq_per_token <= MAX_SEQUENCES_PER_TOKEN:
            raise InvalidParameterError(
                f"n_seq_per_token must be 1..{MAX_SEQUENCES_PER_TOKEN}, got {n_seq_per_token}")
        self._batch = llama_batch_init(capacity, 0, n_seq_per_token)
        if self._batch.token == NULL:
            raise MemoryError("llama_batch_init failed")
        self._allocated = True
        self.capacity = capacity
        self.n_seq_per_token = n_seq_per_token
        self._batch.n_tokens = 0
        self._max_token = -1
        self._max_seq_id = -1

    def close(self):
        """Free the batch's arrays. Safe to call twice."""
        if self._allocated:
            llama_batch_free(self._batch)
            self._allocated = False
            self.capacity = 0
            self._batch.n_tokens = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __dealloc__(self):
        if self._allocated:
            llama_batch_free(self._batch)

    @property
    def n_tokens(self):
        return self._batch.n_tokens

    @property
    def max_token(self):
        """The largest token id in the batch, or -1 when it is empty."""
        return self._max_token

    @property
    def max_seq_id(self):
        """The largest sequence id in the batch, or -1 when it is empty."""
        return self._max_seq_id

    def clear(self):
        self._batch.n_tokens = 0
        self._max_token = -1
        self._max_seq_id = -1

    cdef int _check_room(self, Py_ssize_t count) except -1:
        if not self._allocated:
            raise InvalidParameterError("the batch was closed")
        if count > self.capacity - self._batch.n_tokens:
            raise InvalidParameterError(
                f"{count} more tokens do not fit: batch holds {self._batch.n_tokens} of {self.capacity}")
        return 0

    def add(self, int token, int position, seq_ids, bint output=False):
        """Append one token at `position` of each sequence in `seq_ids` (an int or a list).
        Returns its index in the batch."""
        sequences = [seq_ids] if isinstance(seq_ids, int) else list(seq_ids)
        if not 1 <= len(sequences) <= self.n_seq_per_token:
            raise InvalidParameterError(f"a token belongs to 1..{self.n_seq_per_token} sequences")
        if token < 0 or position < 0 or min(sequences) < 0:
            raise InvalidParameterError("token, position and sequence ids must not be negative")
        self._check_room(1)
        cdef int32_t index = self._batch.n_tokens
        self._batch.token[index] = token
        self._batch.pos[index] = position
        self._batch.n_seq_id[index] = len(sequences)
        for slot, seq_id in enumerate(sequences):
            self._batch.seq_id[index][slot] = seq_id
        self._batch.logits[index] = output
        self._batch.n_tokens += 1
        self._max_token = max(self._max_token, token)
        self._max_seq_id = max(self._max_seq_id, max(sequences))
        return index

    def add_token(self, int token, int position, int seq_id, bint output=True):
        """Append one token of one sequence: the decode step's hot path, with no list handling.
        Returns its index in the batch."""
        if token < 0 or position < 0 or seq_id < 0:
            raise InvalidParameterError("token, position and sequence id must not be negative")
        self._check_room(1)
        cdef int32_t index = self._batch.n_tokens
        self._batch.token[index] = token
        self._batch.pos[index] = position
        self._batch.n_seq_id[index] = 1
        self._batch.seq_id[index][0] = seq_id
        self._batch.logits[index] = output
        self._batch.n_tokens += 1
        if token > self._max_token:
            self._max_token = token
        if seq_id > self._max_seq_id:
            self._max_seq_id = seq_id
        return index

    def add_sequence(self, tokens, int start_position, int seq_id, bint output_last=True):
        """Append a run of tokens of one sequence at consecutive positions from `start_position`;
        only the last asks for output when `output_last`. Returns the index of the last token."""
        cdef const int32_t[::1] token_view = _int32_array(tokens)
        cdef Py_ssize_t count = token_view.shape[0]
        if count == 0:
            raise InvalidParameterError("add_sequence needs at least one token")
        if start_position < 0 or seq_id < 0 or start_position > (1 << 30):
            raise InvalidParameterError("start_position and seq_id must be 0 or more")
        self._check_room(count)
        cdef int32_t first = self._batch.n_tokens
        cdef Py_ssize_t offset
        cdef int32_t largest = self._max_token
        cdef int32_t smallest = 0
        with nogil:
            for offset in range(count):
                self._batch.token[first + offset] = token_view[offset]
                self._batch.pos[first + offset] = start_position + <int32_t>offset
                self._batch.n_seq_id[first + offset] = 1
                self._batch.seq_id[first + offset][0] = seq_id
                self._batch.logits[first + offset] = 0
                largest = max(largest, token_view[offset])
                smallest = min(smallest, token_view[offset])
            self._batch.logits[first + count - 1] = output_last
        if smallest < 0:
            raise InvalidParameterError("token ids must not be negative")
        self._batch.n_tokens += <int32_t>count
        self._max_token = largest
        self._max_seq_id = max(self._max_seq_id, seq_id)
        return first + count - 1

    def fill(self, tokens, positions, seq_ids, outputs):
        """Append many tokens of many sequences in one call: token i goes to sequence seq_ids[i] at
        positions[i] and asks for output when outputs[i]. Returns the index of the first one."""
        cdef const int32_t[::1] token_view = _int32_array(tokens)
        cdef const int32_t[::1] position_view = _int32_array(positions)
        cdef const int32_t[::1] seq_view = _int32_array(seq_ids)
        cdef const int8_t[::1] output_view = numpy.ascontiguousarray(outputs, dtype=numpy.int8)
        cdef Py_ssize_t count = token_view.shape[0]
        if not (position_view.shape[0] == seq_view.shape[0] == output_view.shape[0] == count):
            raise InvalidParameterError("tokens, positions, seq_ids and outputs must have one length")
        self._check_room(count)
        cdef int32_t first = self._batch.n_tokens
        cdef Py_ssize_t offset
        cdef int32_t smallest = 0
        cdef int32_t largest_token = self._max_token
        cdef int32_t largest_seq = self._max_seq_id
        with nogil:
            for offset in range(count):
                self._batch.token[first + offset] = token_view[offset]
                self._batch.pos[first + offset] = position_view[offset]
                self._batch.n_seq_id[first + offset] = 1
                self._batch.seq_id[first + offset][0] = seq_view[offset]
                self._batch.logits[first + offset] = output_view[offset] != 0
                smallest = min(smallest, min(token_view[offset], min(position_view[offset], seq_view[offset])))
                largest_token = max(largest_token, token_view[offset])
                largest_seq = max(largest_seq, seq_view[offset])
        if smallest < 0:
            raise InvalidParameterError("tokens, positions and seq_ids must not be negative")
        self._batch.n_tokens += <int32_t>count
        self._max_token = largest_token
        self._max_seq_id = largest_seq
        return first

    def __repr__(self):
        return f"<LlamaBatch {self._batch.n_tokens}/{self.capacity} tokens>"
