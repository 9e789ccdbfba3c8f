#include "paddler/paddler_grammar.h"

#include <stdexcept>
#include <string>

#include "llama-grammar.h"  // llama.cpp's internal parser, exported from libllama
#include "paddler_guard.hpp"

namespace {

// Whitespace and comments between rules, as llama.cpp's parser skips them.
const char * skip_space(const char * position) {
    while (*position == ' ' || *position == '\t' || *position == '#' || *position == '\r' || *position == '\n') {
        if (*position == '#') {
            while (*position && *position != '\r' && *position != '\n') {
                position++;
            }
        } else {
            position++;
        }
    }
    return position;
}

void check_rules_are_defined(const llama_grammar_parser & parser) {
    for (const auto & rule : parser.rules) {
        if (rule.empty()) {
            throw std::runtime_error("undefined rule");
        }
        for (const auto & element : rule) {
            if (element.type != LLAMA_GRETYPE_RULE_REF) {
                continue;
            }
            if (element.value < parser.rules.size() && !parser.rules[element.value].empty()) {
                continue;
            }
            for (const auto & [name, symbol_id] : parser.symbol_ids) {
                if (symbol_id == element.value) {
                    throw std::runtime_error("undefined rule '" + name + "'");
                }
            }
            throw std::runtime_error("undefined rule");
        }
    }
}

}  // namespace

extern "C" paddler_status paddler_grammar_validate(
    const llama_vocab * vocab, const char * grammar, char * error_buffer, size_t error_buffer_size) {
    return paddler_guard(error_buffer, error_buffer_size, [&] {
        llama_grammar_parser parser(vocab);
        const char * position = skip_space(grammar);
        while (*position) {
            position = parser.parse_rule(position);
        }
        check_rules_are_defined(parser);
        return PADDLER_STATUS_OK;
    });
}
