# Declarations of our own C ABI in csrc/include/paddler. No code here.
from libc.stdint cimport int32_t

from paddler.llama.libllama cimport llama_context, llama_sampler, llama_token, llama_token_data, llama_vocab


cdef extern from "paddler/paddler_sampling.h" nogil:
    cdef enum paddler_status:
        PADDLER_STATUS_OK
        PADDLER_STATUS_NO_LOGITS
        PADDLER_STATUS_NO_VIABLE_TOKEN
        PADDLER_STATUS_EXCEPTION

    paddler_status paddler_sampler_sample(
        llama_sampler * chain, llama_sampler * grammar, llama_context * context, int32_t batch_index,
        llama_token_data * scratch, int32_t n_vocab, llama_token * out_token,
        char * error_buffer, size_t error_buffer_size)

    paddler_status paddler_sampler_argmax(
        llama_context * context, int32_t batch_index, int32_t n_vocab, llama_token * out_token,
        char * error_buffer, size_t error_buffer_size)

    paddler_status paddler_sampler_accept(
        llama_sampler * chain, llama_sampler * grammar, llama_token token,
        char * error_buffer, size_t error_buffer_size)


cdef extern from "paddler/paddler_penalties.h" nogil:
    llama_sampler * paddler_sampler_init_penalties(
        int32_t n_vocab, int32_t last_n, float repeat, float frequency, float presence)


cdef extern from "paddler/paddler_grammar.h" nogil:
    paddler_status paddler_grammar_validate(
        const llama_vocab * vocab, const char * grammar, char * error_buffer, size_t error_buffer_size)


cdef extern from "paddler/paddler_json_schema.h" nogil:
    paddler_status paddler_json_schema_to_grammar(
        const char * schema_json, char ** out_grammar, char * error_buffer, size_t error_buffer_size)
    void paddler_free_text(char * text)
