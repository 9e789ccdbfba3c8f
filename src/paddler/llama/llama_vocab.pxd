from paddler.llama.libllama cimport llama_token, llama_vocab
from paddler.llama.llama_model cimport LlamaModel


cdef class LlamaVocab:
    cdef readonly LlamaModel model
    cdef const llama_vocab * _vocab
    cdef readonly int n_tokens

    cdef const llama_vocab * handle(self) except NULL
    cdef int check_token(self, long long token) except -1
