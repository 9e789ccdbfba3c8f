from libc.stdint cimport int32_t

from paddler.llama.libllama cimport llama_batch


cdef class LlamaBatch:
    cdef llama_batch _batch
    cdef bint _allocated
    cdef readonly int32_t capacity
    cdef readonly int32_t n_seq_per_token
    cdef int32_t _max_token
    cdef int32_t _max_seq_id

    cdef int _check_room(self, Py_ssize_t count) except -1
