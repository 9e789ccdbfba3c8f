# Declarations of the part of llama.cpp's mtmd.h and mtmd-helper.h (tools/mtmd) that paddler uses.
# Raw C names; structs list only the fields we read or set. No code here.
from libc.stdint cimport int32_t, uint32_t

from paddler.llama.libllama cimport (
    bool,
    ggml_log_callback,
    llama_context,
    llama_flash_attn_type,
    llama_model,
    llama_pos,
    llama_seq_id,
    llama_token,
)


cdef extern from "mtmd.h" nogil:
    cdef enum mtmd_input_chunk_type:
        MTMD_INPUT_CHUNK_TYPE_TEXT
        MTMD_INPUT_CHUNK_TYPE_IMAGE
        MTMD_INPUT_CHUNK_TYPE_AUDIO

    ctypedef struct mtmd_context:
        pass
    ctypedef struct mtmd_bitmap:
        pass
    ctypedef struct mtmd_input_chunk:
        pass
    ctypedef struct mtmd_input_chunks:
        pass

    ctypedef struct mtmd_input_text:
        const char * text
        size_t text_len
        bool add_special
        bool parse_special

    ctypedef struct mtmd_input_part:
        const mtmd_input_text * text
        const mtmd_bitmap * bitmap

    cdef struct mtmd_context_params:
        bool use_gpu
        bool print_timings
        int n_threads
        const char * media_marker
        llama_flash_attn_type flash_attn_type
        bool warmup

    const char * mtmd_default_marker()
    mtmd_context_params mtmd_context_params_default()
    mtmd_context * mtmd_init_from_file(
        const char * mmproj_fname, const llama_model * text_model, const mtmd_context_params ctx_params)
    void mtmd_free(mtmd_context * ctx)
    bool mtmd_decode_use_non_causal(const mtmd_context * ctx, const mtmd_input_chunk * chunk)
    bool mtmd_decode_use_mrope(const mtmd_context * ctx)
    bool mtmd_support_vision(const mtmd_context * ctx)
    bool mtmd_support_audio(const mtmd_context * ctx)

    mtmd_bitmap * mtmd_bitmap_init(uint32_t nx, uint32_t ny, const unsigned char * data)
    void mtmd_bitmap_free(mtmd_bitmap * bitmap)
    void mtmd_bitmap_set_id(mtmd_bitmap * bitmap, const char * id)

    mtmd_input_chunks * mtmd_input_chunks_init()
    size_t mtmd_input_chunks_size(const mtmd_input_chunks * chunks)
    const mtmd_input_chunk * mtmd_input_chunks_get(const mtmd_input_chunks * chunks, size_t idx)
    void mtmd_input_chunks_free(mtmd_input_chunks * chunks)

    mtmd_input_chunk_type mtmd_input_chunk_get_type(const mtmd_input_chunk * chunk)
    const llama_token * mtmd_input_chunk_get_tokens_text(const mtmd_input_chunk * chunk, size_t * n_tokens_output)
    size_t mtmd_input_chunk_get_n_tokens(const mtmd_input_chunk * chunk)
    const char * mtmd_input_chunk_get_id(const mtmd_input_chunk * chunk)
    llama_pos mtmd_input_chunk_get_n_pos(const mtmd_input_chunk * chunk)

    int32_t mtmd_tokenize(
        const mtmd_context * ctx, mtmd_input_chunks * output, const mtmd_input_text * text,
        const mtmd_bitmap * const * bitmaps, size_t n_bitmaps)
    int32_t mtmd_tokenize_from_parts(
        const mtmd_context * ctx, mtmd_input_chunks * output, const mtmd_input_part * const * parts,
        size_t n_parts, bool add_special)


cdef extern from "mtmd-helper.h" nogil:
    void mtmd_helper_log_set(ggml_log_callback log_callback, void * user_data)
    int32_t mtmd_helper_eval_chunk_single(
        mtmd_context * ctx, llama_context * lctx, const mtmd_input_chunk * chunk, llama_pos n_past,
        llama_seq_id seq_id, int32_t n_batch, bool logits_last, llama_pos * new_n_past)
