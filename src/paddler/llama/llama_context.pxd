from libc.stdint cimport int8_t, int32_t

from paddler.llama.libllama cimport llama_context, llama_memory_t
from paddler.llama.llama_batch cimport LlamaBatch
from paddler.llama.llama_model cimport LlamaModel


cdef class LlamaContext:
    cdef llama_context * _handle
    cdef readonly LlamaModel model
    cdef readonly bint embeddings
    cdef readonly bint kv_unified
    cdef readonly int32_t n_seq_max
    cdef readonly int32_t n_vocab
    cdef readonly int32_t n_embd
    cdef int8_t * _outputs
    cdef int32_t _outputs_count
    cdef int32_t _outputs_capacity
    cdef int _abort_requested
    cdef object __weakref__

    cdef llama_context * handle(self) except NULL
    cdef int check_output(self, int32_t batch_index) except -1
    cdef void _remember_outputs(self, LlamaBatch batch)
    cdef llama_memory_t _memory(self) except? NULL
