# cython: language_level=3
"""SequenceOutput: what one generating sequence has produced, kept in C so the per-token work runs in the
same GIL release as sampling (llama_sampler.sample_and_push).

Each pushed token is checked for end of generation, classified against the chat template's marker ids
(sections: undeterminable, content, reasoning, tool call; a token that could still start a marker is held
until decided), counted in its section, and its piece appended to the step's text with incremental UTF-8
completion: only complete characters come out, an incomplete one is held until its last byte arrives,
bytes that can never decode become U+FFFD. Marker tokens are counted but never turned into text.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove

from paddler.llama.libllama cimport llama_token, llama_token_to_piece, llama_vocab_is_eog
from paddler.llama.llama_vocab cimport LlamaVocab

from paddler.llama.llama_error import InvalidParameterError

# Sections, as their index.
SECTION_PENDING = 0
SECTION_CONTENT = 1
SECTION_REASONING = 2
SECTION_TOOL_CALL = 3
TEXT = OUTPUT_TEXT
END_OF_GENERATION = OUTPUT_END_OF_GENERATION
BUDGET_SPENT = OUTPUT_BUDGET_SPENT
TOOL_CALLS = OUTPUT_TOOL_CALLS

cdef enum:
    PENDING = 0
    CONTENT = 1
    REASONING = 2
    TOOL_CALL = 3
    REASONING_OPEN = 0
    REASONING_CLOSE = 1
    TOOL_CALL_OPEN = 2
    TOOL_CALL_CLOSE = 3
    SMALL_PIECE = 128


cdef bint _append(byte_buffer * buffer, const char * data, size_t size) noexcept nogil:
    cdef size_t capacity
    cdef char * grown
    if buffer.size + size > buffer.capacity:
        capacity = max(64, 2 * (buffer.size + size))
        grown = <char *>realloc(buffer.data, capacity)
        if grown == NULL:
            return False
        buffer.data = grown
        buffer.capacity = capacity
    if size:
        memcpy(buffer.data + buffer.size, data, size)
        buffer.size += size
    return True


cdef int _sequence_length(unsigned char lead) noexcept nogil:
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


cdef bint _valid_second(unsigned char lead, unsigned char second) noexcept nogil:
    # As Python's decoder: ED then A0..BF (a surrogate) is held too, and replaced once complete.
    if lead == 0xE0:
        return 0xA0 <= second <= 0xBF
    if lead == 0xF0:
        return 0x90 <= second <= 0xBF
    if lead == 0xF4:
        return 0x80 <= second <= 0x8F
    return 0x80 <= second <= 0xBF


cdef size_t _incomplete_suffix(const unsigned char * data, size_t size) noexcept nogil:
    """Bytes at the end that start a character still valid so far but not complete (0 to 3)."""
    cdef size_t back
    cdef unsigned char byte
    for back in range(1, min(3, size) + 1):
        byte = data[size - back]
        if 0x80 <= byte <= 0xBF:
            continue
        if _sequence_length(byte) > <int>back and (back == 1 or _valid_second(byte, data[size - back + 1])):
            return back
        return 0
    return 0


cdef bint _append_text(sequence_state * state, const char * piece, size_t size) noexcept nogil:
    cdef size_t start = state.text.size
    cdef size_t hold
    if not _append(&state.text, <const char *>state.tail, state.n_tail) or not _append(&state.text, piece, size):
        return False
    hold = _incomplete_suffix(<const unsigned char *>state.text.data + start, state.text.size - start)
    memcpy(state.tail, state.text.data + state.text.size - hold, hold)
    state.n_tail = <int>hold
    state.text.size -= hold
    return True


cdef void _decide(sequence_state * state, llama_token token, int section, bint marker) noexcept nogil:
    cdef char small[SMALL_PIECE]
    cdef char * large = NULL
    cdef char * piece = small
    cdef int length
    if state.replaying:
        return
    state.counts[section] += 1
    length = llama_token_to_piece(state.vocab, token, small, SMALL_PIECE, 0, False)
    if length < 0:
        large = <char *>malloc(-length)
        length = -1 if large == NULL else llama_token_to_piece(state.vocab, token, large, -length, 0, False)
        piece = large
    if length < 0:
        state.failed = True
        length = 0
    if state.keep_tool_call_bytes and section == TOOL_CALL:
        state.failed |= not _append(&state.tool_call_bytes, piece, length)
    if not marker:
        state.failed |= not _append_text(state, piece, length)
    free(large)
    state.decided_token[state.n_decided] = token
    state.decided_section[state.n_decided] = section
    state.decided_marker[state.n_decided] = marker
    state.decided_end[state.n_decided] = state.text.size
    state.n_decided += 1


cdef bint _held_starts_with(sequence_state * state, int kind, int count) noexcept nogil:
    cdef int index
    for index in range(count):
        if state.held[index] != state.markers[kind][index]:
            return False
    return True


cdef int _complete_marker(sequence_state * state) noexcept nogil:
    cdef int kind
    cdef int length
    for kind in range(MARKER_KINDS):
        length = state.marker_length[kind]
        if length and length <= state.n_held and _held_starts_with(state, kind, length):
            return kind
    return -1


cdef bint _could_become_marker(sequence_state * state) noexcept nogil:
    cdef int kind
    cdef int length
    for kind in range(MARKER_KINDS):
        length = state.marker_length[kind]
        if state.n_held < length and _held_starts_with(state, kind, state.n_held):
            return True
    return False


cdef void _drop_held(sequence_state * state, int count) noexcept nogil:
    state.n_held -= count
    memmove(state.held, state.held + count, state.n_held * sizeof(llama_token))


cdef void _take_marker(sequence_state * state, int kind) noexcept nogil:
    cdef int counted
    cdef int closes
    cdef int index
    if kind == REASONING_OPEN:
        state.section = counted = REASONING
    elif kind == TOOL_CALL_OPEN:
        state.section = counted = TOOL_CALL
    else:
        # A close marker counts toward the section it closes, or content when it closes nothing.
        closes = REASONING if kind == REASONING_CLOSE else TOOL_CALL
        counted = closes if state.section == closes else CONTENT
        state.section = CONTENT
    for index in range(state.marker_length[kind]):
        _decide(state, state.held[index], counted, True)
    _drop_held(state, state.marker_length[kind])


cdef void _classify(sequence_state * state, llama_token token) noexcept nogil:
    cdef int kind
    state.held[state.n_held] = token
    state.n_held += 1
    while state.n_held:
        kind = _complete_marker(state)
        if kind >= 0:
            _take_marker(state, kind)
            continue
        if _could_become_marker(state):
            break
        _decide(state, state.held[0], state.section, False)
        _drop_held(state, 1)


cdef int _report(sequence_state * state) noexcept nogil:
    cdef int flags = 0
    if state.text.size:
        flags |= OUTPUT_TEXT
    if state.budget >= 0 and state.counts[PENDING] + state.counts[CONTENT] + state.counts[REASONING] >= state.budget:
        flags |= OUTPUT_BUDGET_SPENT
    if state.tool_call_bytes.size and state.section != TOOL_CALL:
        flags |= OUTPUT_TOOL_CALLS
    return flags


cdef int push_token(sequence_state * state, llama_token token) noexcept nogil:
    """One sampled token in; what it produced out (OUTPUT_* flags). An end-of-generation token is
    neither counted nor classified."""
    state.text.size = 0
    state.n_decided = 0
    if llama_vocab_is_eog(state.vocab, token):
        return OUTPUT_END_OF_GENERATION
    _classify(state, token)
    return _report(state)


cdef str _text(sequence_state * state, size_t start, size_t end):
    return PyUnicode_DecodeUTF8(state.text.data + start, end - start, "replace")


cdef class SequenceOutput:
    """`markers` are the template's (reasoning open, reasoning close, tool-call open, tool-call close) token
    ids, each None or empty when the template has none. `budget` is how many tokens outside tool calls may
    be generated (Paddler's rule: tool-call tokens do not count), negative for no limit. With
    `keep_tool_call_bytes` the bytes of a tool-call block (markers included) are kept until taken."""

    def __cinit__(self):
        self._state.text.data = NULL
        self._state.tool_call_bytes.data = NULL

    def __init__(self, LlamaVocab vocab not None, markers, long long budget=-1, *, bint keep_tool_call_bytes=False):
        self._state.vocab = vocab.handle()
        self.vocab = vocab
        if len(markers) != MARKER_KINDS:
            raise InvalidParameterError(f"markers must be {MARKER_KINDS} token sequences or None")
        for kind, ids in enumerate(markers):
            ids = () if ids is None else tuple(ids)
            if len(ids) > MAX_MARKER_TOKENS:
                raise InvalidParameterError(f"a marker may span at most {MAX_MARKER_TOKENS} tokens, not {len(ids)}")
            for index, token in enumerate(ids):
                vocab.check_token(token)
                self._state.markers[kind][index] = token
            self._state.marker_length[kind] = len(ids)
        self._state.budget = budget
        self._state.keep_tool_call_bytes = keep_tool_call_bytes

    cdef sequence_state * state(self) except NULL:
        if self.vocab is None:
            raise InvalidParameterError("SequenceOutput was not initialised")
        self.vocab.handle()  # raises once the model is closed
        return &self._state

    def replay(self, tokens):
        """Run the prompt through the marker machine (nothing counted), so generation starts in the
        section the rendered prompt ends in (e.g. inside `<think>`, or after an empty `<think></think>`)."""
        cdef sequence_state * state = self.state()
        state.replaying = True
        try:
            for token in tokens:
                _classify(state, token)
        finally:
            state.replaying = False
            state.n_held = 0

    def push(self, llama_token token):
        """One token (what sample_and_push does per row): returns its TEXT / END_OF_GENERATION /
        BUDGET_SPENT / TOOL_CALLS flags."""
        self.vocab.check_token(token)
        return push_token(self.state(), token)

    def finish(self):
        """At the end: the tokens still held, decided as ordinary tokens of the current section."""
        cdef sequence_state * state = self.state()
        cdef int index
        state.text.size = 0
        state.n_decided = 0
        for index in range(state.n_held):
            _decide(state, state.held[index], state.section, False)
        state.n_held = 0
        return _report(state) & ~OUTPUT_BUDGET_SPENT

    def flush_tail(self):
        """The bytes of an unfinished character still held, as text (U+FFFD), at the very end."""
        cdef sequence_state * state = self.state()
        text = PyUnicode_DecodeUTF8(<const char *>state.tail, state.n_tail, "replace")
        state.n_tail = 0
        return text

    def _check(self):
        if self._state.failed:
            raise MemoryError("a token's text could not be kept")

    def texts(self):
        """The last push's text as (section, text), one entry per run of one section."""
        self._check()
        cdef sequence_state * state = &self._state
        cdef size_t start = 0
        cdef size_t run_start = 0
        cdef int section = -1
        cdef int index
        runs = []
        for index in range(state.n_decided):
            if state.decided_end[index] == start:
                continue
            if state.decided_section[index] != section:
                if start > run_start:
                    runs.append((section, _text(state, run_start, start)))
                section = state.decided_section[index]
                run_start = start
            start = state.decided_end[index]
        if start > run_start:
            runs.append((section, _text(state, run_start, start)))
        return runs

    def decided(self):
        """The last push's decided tokens as (token, section, is_marker, the text it completed)."""
        self._check()
        cdef sequence_state * state = &self._state
        cdef size_t start = 0
        cdef int index
        tokens = []
        for index in range(state.n_decided):
            tokens.append((
                state.decided_token[index],
                state.decided_section[index],
                bool(state.decided_marker[index]),
                _text(state, start, state.decided_end[index]),
            ))
            start = state.decided_end[index]
        return tokens

    def take_tool_call_bytes(self):
        """The bytes of the tool-call block so far (markers included), now forgotten."""
        cdef sequence_state * state = self.state()
        block = state.tool_call_bytes.data[:state.tool_call_bytes.size] if state.tool_call_bytes.size else b""
        state.tool_call_bytes.size = 0
        return block

    @property
    def section(self):
        return self._state.section

    @property
    def counts(self):
        """Generated tokens per section (markers included), indexed by section."""
        return tuple(self._state.counts[index] for index in range(4))

    def __dealloc__(self):
        free(self._state.text.data)
        free(self._state.tool_call_bytes.data)
