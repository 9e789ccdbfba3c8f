/* GBNF validation that reports the parser's reason as a string.
 *
 * llama_sampler_init_grammar() prints parse errors to stderr and returns NULL, so the caller never
 * learns what was wrong. This runs llama.cpp's own parser first and hands back its message. */
#ifndef PADDLER_GRAMMAR_H
#define PADDLER_GRAMMAR_H

#include <stddef.h>

#include "llama.h"
#include "paddler/paddler_sampling.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PADDLER_STATUS_OK when `grammar` parses and every referenced rule is defined; otherwise
 * PADDLER_STATUS_EXCEPTION with the parser's reason in the error buffer. */
paddler_status paddler_grammar_validate(
    const struct llama_vocab * vocab, const char * grammar, char * error_buffer, size_t error_buffer_size);

#ifdef __cplusplus
}
#endif

#endif
