/* Sampling with every C++ exception and every llama.cpp abort path turned into a status.
 *
 * llama_sampler_sample() asserts (aborting the process) when no candidate survives the chain, and
 * a grammar sampler aborts when made to accept an end-of-generation token it forbids, or throws
 * when a token empties its stacks. These shims check first and catch. The grammar is kept out of
 * the chain so the common case costs one grammar check of the chosen token instead of a grammar
 * pass over the whole vocabulary (llama.cpp's common sampler does the same). Stateless. */
#ifndef PADDLER_SAMPLING_H
#define PADDLER_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum paddler_status {
    PADDLER_STATUS_OK = 0,
    PADDLER_STATUS_NO_LOGITS = 1,         /* the batch index produced no logits */
    PADDLER_STATUS_NO_VIABLE_TOKEN = 2,   /* every candidate was ruled out (e.g. by the grammar) */
    PADDLER_STATUS_EXCEPTION = 3,         /* llama.cpp threw; the message is in the error buffer */
} paddler_status;

/* Pick a token from the logits at `batch_index` with `chain`, constrained by `grammar` (or NULL),
 * and accept it into both. `scratch` must hold `n_vocab` entries; it is overwritten. */
paddler_status paddler_sampler_sample(
    struct llama_sampler * chain, struct llama_sampler * grammar,
    struct llama_context * context, int32_t batch_index,
    llama_token_data * scratch, int32_t n_vocab, llama_token * out_token,
    char * error_buffer, size_t error_buffer_size);

/* The most likely token at `batch_index` (the first of equals), as a chain of llama.cpp's greedy sampler
 * alone picks it, without copying the vocabulary into candidates: for a sampler that is greedy with no
 * grammar, penalties or logit bias, whose chain keeps no state to accept into. */
paddler_status paddler_sampler_argmax(
    struct llama_context * context, int32_t batch_index, int32_t n_vocab, llama_token * out_token,
    char * error_buffer, size_t error_buffer_size);

/* Accept a token the caller chose. When `grammar` (or NULL) forbids the token, nothing is
 * accepted and PADDLER_STATUS_NO_VIABLE_TOKEN is returned. */
paddler_status paddler_sampler_accept(
    struct llama_sampler * chain, struct llama_sampler * grammar, llama_token token,
    char * error_buffer, size_t error_buffer_size);

#ifdef __cplusplus
}
#endif

#endif
