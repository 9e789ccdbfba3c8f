/* Repetition, frequency and presence penalties as a llama.cpp sampler, with llama.cpp's rule and state
 * (the counts of the last `last_n` accepted tokens), applied by walking the tokens seen instead of the
 * whole vocabulary.
 *
 * llama.cpp's penalties sampler looks every candidate up in its count map: 49,152 hash lookups per row
 * for a small model's vocabulary, most of a greedy row's sampling time. When the candidates still sit in
 * token order (fresh from the logits, as at the head of our chains) this one visits only the tokens in
 * its window; otherwise it falls back to the full scan. Either way the logits come out as llama.cpp's. */
#ifndef PADDLER_PENALTIES_H
#define PADDLER_PENALTIES_H

#include <stdint.h>

#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new penalties sampler (NULL when out of memory), as llama_sampler_init_penalties takes its
 * arguments: `last_n` accepted tokens are counted (0 disables); `repeat` divides a seen token's positive
 * logit and multiplies a negative one; `frequency` is taken off per occurrence, `presence` once. */
struct llama_sampler * paddler_sampler_init_penalties(
    int32_t n_vocab, int32_t last_n, float repeat, float frequency, float presence);

#ifdef __cplusplus
}
#endif

#endif
