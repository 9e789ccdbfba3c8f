from libc.stdint cimport int32_t

from paddler.llama.libllama cimport llama_token, llama_vocab
from paddler.llama.llama_vocab cimport LlamaVocab

cdef enum:
    # Marker kinds, in the order they are matched.
    MARKER_KINDS = 4
    # Tokens one marker may span (template tags are one to a few tokens).
    MAX_MARKER_TOKENS = 16

# What one push reports (bit flags): new text, end of generation, the token budget spent, a tool-call
# block closed (its bytes are ready to parse).
cdef enum:
    OUTPUT_TEXT = 1
    OUTPUT_END_OF_GENERATION = 2
    OUTPUT_BUDGET_SPENT = 4
    OUTPUT_TOOL_CALLS = 8


cdef struct byte_buffer:
    char * data
    size_t size
    size_t capacity


cdef struct sequence_state:
    const llama_vocab * vocab
    llama_token markers[MARKER_KINDS][MAX_MARKER_TOKENS]
    int marker_length[MARKER_KINDS]
    int section
    bint replaying
    bint keep_tool_call_bytes
    bint failed
    llama_token held[MAX_MARKER_TOKENS + 1]
    int n_held
    unsigned char tail[4]
    int n_tail
    long long counts[4]
    long long budget
    # This push's decided tokens: token, section, marker flag, and where its text ends in `text`.
    int n_decided
    llama_token decided_token[MAX_MARKER_TOKENS + 1]
    int decided_section[MAX_MARKER_TOKENS + 1]
    bint decided_marker[MAX_MARKER_TOKENS + 1]
    size_t decided_end[MAX_MARKER_TOKENS + 1]
    byte_buffer text
    byte_buffer tool_call_bytes


cdef int push_token(sequence_state * state, llama_token token) noexcept nogil


cdef class SequenceOutput:
    cdef sequence_state _state
    cdef readonly LlamaVocab vocab

    cdef sequence_state * state(self) except NULL
