from paddler.llama.libllama cimport llama_model


cdef class LlamaModel:
    cdef llama_model * _handle
    cdef readonly object path
    cdef readonly int n_gpu_layers
    cdef dict _metadata
    cdef object _vocab
    cdef object _dependents

    cdef llama_model * handle(self) except NULL
    cdef dict _read_metadata(self)
