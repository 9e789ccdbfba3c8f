/* JSON Schema to GBNF through llama.cpp's own converter (common/json-schema-to-grammar), so a schema
 * grammar means exactly what it means to llama-server. Every exception becomes a status. */
#ifndef PADDLER_JSON_SCHEMA_H
#define PADDLER_JSON_SCHEMA_H

#include <stddef.h>

#include "paddler/paddler_sampling.h"

#ifdef __cplusplus
extern "C" {
#endif

/* On PADDLER_STATUS_OK, *out_grammar is a malloc'd NUL-terminated GBNF text the caller frees with
 * paddler_free_text(); otherwise the reason is in the error buffer. */
paddler_status paddler_json_schema_to_grammar(
    const char * schema_json, char ** out_grammar, char * error_buffer, size_t error_buffer_size);

void paddler_free_text(char * text);

#ifdef __cplusplus
}
#endif

#endif
