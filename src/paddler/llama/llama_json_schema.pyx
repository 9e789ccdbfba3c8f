# cython: language_level=3
"""JSON Schema to GBNF with llama.cpp's own converter, so a schema constrains output exactly as it does
in llama-server. Bounded first (in size, then in depth on the text, before json.loads recurses into it):
the converter recurses once per nesting level."""

import json

from paddler.llama.libpaddler cimport (
    PADDLER_STATUS_OK,
    paddler_free_text,
    paddler_json_schema_to_grammar,
    paddler_status,
)

from paddler.llama.llama_error import GrammarError

MAX_SCHEMA_BYTES = 1024 * 1024
MAX_SCHEMA_DEPTH = 64


cdef bint _text_deeper_than(const char * text, Py_ssize_t length, int limit) noexcept nogil:
    """Whether the JSON text nests more than `limit` brackets deep (brackets inside strings do not
    count), checked before json.loads, which recurses once per level and would overflow the stack."""
    cdef int depth = 0
    cdef bint in_string = False
    cdef bint escaped = False
    cdef Py_ssize_t index
    cdef char character
    for index in range(length):
        character = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif character == b'\\':
                escaped = True
            elif character == b'"':
                in_string = False
        elif character == b'"':
            in_string = True
        elif character == b'[' or character == b'{':
            depth += 1
            if depth > limit:
                return True
        elif character == b']' or character == b'}':
            depth -= 1
    return False


def _depth(document):
    deepest = 0
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(value, dict):
            pending.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            pending.extend((child, depth + 1) for child in value)
    return deepest


def json_schema_to_grammar(str schema):
    """GBNF text (root rule `root`) accepting exactly the JSON documents `schema` describes.
    Raises GrammarError with the reason for invalid JSON, an unsupported schema or excessive size."""
    encoded = schema.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_SCHEMA_BYTES:
        raise GrammarError(f"JSON schema of {len(encoded)} bytes exceeds the {MAX_SCHEMA_BYTES}-byte limit")
    if _text_deeper_than(encoded, len(encoded), MAX_SCHEMA_DEPTH):
        raise GrammarError(f"JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
    try:
        document = json.loads(schema)
    except ValueError as error:
        raise GrammarError(f"JSON schema is not valid JSON: {error}") from None
    if _depth(document) > MAX_SCHEMA_DEPTH:
        raise GrammarError(f"JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
    cdef const char * c_schema = encoded
    cdef char * grammar = NULL
    cdef char error_buffer[512]
    cdef paddler_status status
    with nogil:
        status = paddler_json_schema_to_grammar(c_schema, &grammar, error_buffer, sizeof(error_buffer))
    if status != PADDLER_STATUS_OK:
        raise GrammarError(f"Failed to convert JSON schema to grammar: {error_buffer.decode('utf-8', 'replace')}")
    try:
        return (<bytes>grammar).decode("utf-8")
    finally:
        paddler_free_text(grammar)
