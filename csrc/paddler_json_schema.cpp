#include "paddler/paddler_json_schema.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "json-schema-to-grammar.h"
#include "json.h"
#include "paddler_guard.hpp"

extern "C" paddler_status paddler_json_schema_to_grammar(
    const char * schema_json, char ** out_grammar, char * error_buffer, size_t error_buffer_size) {
    return paddler_guard(error_buffer, error_buffer_size, [&] {
        const std::string grammar = json_schema_to_grammar(common_json::parse(schema_json));
        char * copy = static_cast<char *>(std::malloc(grammar.size() + 1));
        if (copy == nullptr) {
            paddler_write_error(error_buffer, error_buffer_size, "out of memory");
            return PADDLER_STATUS_EXCEPTION;
        }
        std::memcpy(copy, grammar.c_str(), grammar.size() + 1);
        *out_grammar = copy;
        return PADDLER_STATUS_OK;
    });
}

extern "C" void paddler_free_text(char * text) {
    std::free(text);
}
