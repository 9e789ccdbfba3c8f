from libc.stdint cimport int32_t

from paddler.llama.libllama cimport llama_sampler, llama_token_data
from paddler.llama.llama_vocab cimport LlamaVocab


cdef class LlamaSampler:
    cdef llama_sampler * _chain
    cdef llama_sampler * _grammar
    cdef llama_token_data * _scratch
    # Greedy with no grammar, penalties or logit bias: the token is the logits' argmax.
    cdef bint _argmax_only
    cdef readonly LlamaVocab vocab
    cdef readonly object seed

    cdef int _add(self, llama_sampler * sampler) except -1
