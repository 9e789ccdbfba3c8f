from paddler.llama.libllama cimport ggml_log_level


# llama.cpp's log sink, shared with the other libraries that log the same way (mtmd).
cdef void _log_callback(ggml_log_level level, const char * text, void * user_data) noexcept nogil
