# cython: language_level=3
"""LlamaSampler: one sequence's sampler chain, built from sampling parameters.

Chain order follows llama.cpp's defaults: logit biases, penalties, top-k, typical, top-p, min-p, temperature,
then a seeded draw (or greedy when temperature <= 0). An optional GBNF grammar constrains every
choice; it lives beside the chain and is consulted by csrc's sampling shim, which turns llama.cpp's
assertion and exception paths into Python exceptions.
"""

import math

from libc.stdint cimport UINT32_MAX, int32_t
from libc.stdlib cimport free, malloc

from paddler.llama.libllama cimport (
    llama_context,
    llama_logit_bias,
    llama_sampler,
    llama_sampler_chain_add,
    llama_sampler_chain_default_params,
    llama_sampler_chain_init,
    llama_sampler_chain_n,
    llama_sampler_chain_params,
    llama_sampler_free,
    llama_sampler_get_seed,
    llama_sampler_init_dist,
    llama_sampler_init_grammar,
    llama_sampler_init_greedy,
    llama_sampler_init_logit_bias,
    llama_sampler_init_min_p,
    llama_sampler_init_temp,
    llama_sampler_init_top_k,
    llama_sampler_init_top_p,
    llama_sampler_init_typical,
    llama_sampler_reset,
    llama_token,
    llama_token_data,
    llama_vocab,
)
from paddler.llama.libpaddler cimport (
    PADDLER_STATUS_NO_LOGITS,
    PADDLER_STATUS_OK,
    paddler_grammar_validate,
    paddler_sampler_init_penalties,
    paddler_sampler_accept,
    paddler_sampler_argmax,
    paddler_sampler_sample,
    paddler_status,
)
from paddler.llama.llama_context cimport LlamaContext
from paddler.llama.sequence_output cimport SequenceOutput, push_token, sequence_state
from paddler.llama.llama_vocab cimport LlamaVocab

from paddler.llama.llama_backend import capture_log
from paddler.llama.llama_error import GrammarError, InvalidParameterError, SamplingError

MAX_GRAMMAR_BYTES = 256 * 1024
MAX_GRAMMAR_NESTING = 256
MAX_PENALTY_LAST_N = 1 << 20


def _check_finite(name, value, low, high):
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidParameterError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def _grammar_nesting(grammar):
    """Deepest bracket nesting outside quoted literals and character classes. llama.cpp's grammar
    parser recurses once per level, so unbounded nesting would overflow its stack."""
    depth = deepest = 0
    quote = None
    escaped = False
    for character in grammar:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif quote is not None:
            if character == quote:
                quote = None
        elif character == '"':
            quote = '"'
        elif character == "[":
            quote = "]"
        elif character == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif character == ")":
            depth -= 1
    return deepest


cdef llama_sampler * _new_grammar(LlamaVocab vocab, str grammar, str root) except NULL:
    encoded = grammar.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_GRAMMAR_BYTES:
        raise GrammarError(f"grammar of {len(encoded)} bytes exceeds the {MAX_GRAMMAR_BYTES}-byte limit")
    if "\x00" in grammar or "\x00" in root or not root:
        raise GrammarError("grammar and root must be non-empty text without NUL characters")
    if _grammar_nesting(grammar) > MAX_GRAMMAR_NESTING:
        raise GrammarError(f"grammar nests groups deeper than {MAX_GRAMMAR_NESTING} levels")
    encoded_root = root.encode("utf-8", "surrogatepass")
    cdef const char * c_grammar = encoded
    cdef const char * c_root = encoded_root
    cdef const llama_vocab * c_vocab = vocab.handle()
    cdef char error_buffer[512]
    cdef paddler_status status
    with nogil:
        status = paddler_grammar_validate(c_vocab, c_grammar, error_buffer, sizeof(error_buffer))
    if status != PADDLER_STATUS_OK:
        raise GrammarError(f"invalid grammar: {error_buffer.decode('utf-8', 'replace')}")
    cdef llama_sampler * sampler
    with capture_log() as messages:
        with nogil:
            sampler = llama_sampler_init_grammar(c_vocab, c_grammar, c_root)
    if sampler == NULL:
        reason = "; ".join(messages[-3:]) or "llama.cpp rejected it"
        raise GrammarError(f"invalid grammar: {reason}")
    return sampler


cdef llama_sampler * _new_logit_bias(LlamaVocab vocab, dict biases) except NULL:
    cdef Py_ssize_t count = len(biases)
    cdef llama_logit_bias * entries = <llama_logit_bias *>malloc(count * sizeof(llama_logit_bias))
    if entries == NULL:
        raise MemoryError()
    cdef Py_ssize_t index = 0
    try:
        for token, bias in biases.items():
            vocab.check_token(token)
            if math.isnan(bias) or bias == math.inf:
                raise InvalidParameterError(f"logit bias of token {token} must be a number or -inf, got {bias}")
            entries[index].token = token
            entries[index].bias = bias
            index += 1
        return llama_sampler_init_logit_bias(vocab.n_tokens, <int32_t>count, entries)
    finally:
        free(entries)


cdef class LlamaSampler:
    """Sampling state of one sequence.

    temperature <= 0 picks the most likely token (greedy). seed=None draws a random seed.
    top_k <= 0, top_p >= 1, min_p <= 0, typical_p >= 1 and neutral penalties are left out.
    logit_bias maps token ids to values added to their logits (-inf forbids a token).
    """

    def __cinit__(self):
        self._chain = NULL
        self._grammar = NULL
        self._scratch = NULL
        self._argmax_only = False

    def __init__(self, LlamaVocab vocab not None, *, double temperature=0.8, int top_k=40,
                 double top_p=0.95, double min_p=0.05, double typical_p=1.0, double repeat_penalty=1.0,
                 double frequency_penalty=0.0, double presence_penalty=0.0, int penalty_last_n=64,
                 seed=None, grammar=None, str grammar_root="root", logit_bias=None):
        vocab.handle()
        _check_finite("temperature", temperature, -1e9, 1e9)
        _check_finite("top_p", top_p, 0.0, 1.0)
        _check_finite("min_p", min_p, 0.0, 1.0)
        _check_finite("typical_p", typical_p, 0.0, 1.0)
        _check_finite("repeat_penalty", repeat_penalty, 1e-6, 1e6)
        _check_finite("frequency_penalty", frequency_penalty, -1e6, 1e6)
        _check_finite("presence_penalty", presence_penalty, -1e6, 1e6)
        if not -1 <= penalty_last_n <= MAX_PENALTY_LAST_N:
            raise InvalidParameterError(f"penalty_last_n must be -1..{MAX_PENALTY_LAST_N}, got {penalty_last_n}")
        if top_k < 0 or top_k > vocab.n_tokens:
            raise InvalidParameterError(f"top_k must be 0..{vocab.n_tokens}, got {top_k}")
        if seed is not None and not 0 <= seed < UINT32_MAX:
            raise InvalidParameterError(f"seed must be 0..{UINT32_MAX - 1}, got {seed}")
        self.vocab = vocab
        self._scratch = <llama_token_data *>malloc(vocab.n_tokens * sizeof(llama_token_data))
        if self._scratch == NULL:
            raise MemoryError()
        if grammar is not None:
            self._grammar = _new_grammar(vocab, grammar, grammar_root)
        cdef llama_sampler_chain_params chain_params = llama_sampler_chain_default_params()
        chain_params.no_perf = True
        self._chain = llama_sampler_chain_init(chain_params)
        if logit_bias:
            self._add(_new_logit_bias(vocab, logit_bias))
        if repeat_penalty != 1.0 or frequency_penalty != 0.0 or presence_penalty != 0.0:
            last_n = vocab.n_tokens if penalty_last_n == -1 else penalty_last_n
            self._add(paddler_sampler_init_penalties(vocab.n_tokens, last_n, repeat_penalty,
                                                     frequency_penalty, presence_penalty))
        if temperature <= 0:
            self._add(llama_sampler_init_greedy())
            self.seed = None
            self._argmax_only = self._grammar == NULL and llama_sampler_chain_n(self._chain) == 1
            return
        if top_k > 0:
            self._add(llama_sampler_init_top_k(top_k))
        if typical_p < 1.0:
            self._add(llama_sampler_init_typical(typical_p, 1))
        if top_p < 1.0:
            self._add(llama_sampler_init_top_p(top_p, 1))
        if min_p > 0.0:
            self._add(llama_sampler_init_min_p(min_p, 1))
        self._add(llama_sampler_init_temp(temperature))
        cdef llama_sampler * dist = llama_sampler_init_dist(0xFFFFFFFF if seed is None else seed)
        self._add(dist)
        self.seed = llama_sampler_get_seed(dist)

    cdef int _add(self, llama_sampler * sampler) except -1:
        if sampler == NULL:
            raise MemoryError()
        llama_sampler_chain_add(self._chain, sampler)
        return 0

    def sample(self, LlamaContext context not None, int batch_index):
        """Choose the next token from the logits the last decode produced at `batch_index`, and
        accept it. Raises SamplingError when no token satisfies the grammar."""
        self._check_open()
        context.check_output(batch_index)
        if context.model is not self.vocab.model:
            raise InvalidParameterError("the context belongs to another model than this sampler")
        cdef char error_buffer[256]
        cdef llama_token token = -1
        cdef paddler_status status
        cdef llama_context * c_context = context.handle()
        with nogil:
            status = _sample_row(self._argmax_only, self._chain, self._grammar, c_context, batch_index,
                                 self._scratch, self.vocab.n_tokens, &token, error_buffer, sizeof(error_buffer))
        if status == PADDLER_STATUS_OK:
            return token
        if status == PADDLER_STATUS_NO_LOGITS:
            raise InvalidParameterError(f"batch index {batch_index} has no logits")
        raise SamplingError(error_buffer.decode("utf-8", "replace"))

    def accept(self, long long token):
        """Record a token chosen elsewhere (penalties and grammar advance). Raises SamplingError
        when the grammar forbids it; then nothing changes."""
        self._check_open()
        self.vocab.check_token(token)
        cdef char error_buffer[256]
        cdef paddler_status status = paddler_sampler_accept(
            self._chain, self._grammar, <llama_token>token, error_buffer, sizeof(error_buffer))
        if status != PADDLER_STATUS_OK:
            raise SamplingError(error_buffer.decode("utf-8", "replace"))

    def reset(self):
        """Forget accepted tokens: penalties' history and the grammar's position."""
        self._check_open()
        llama_sampler_reset(self._chain)
        if self._grammar != NULL:
            llama_sampler_reset(self._grammar)

    @property
    def has_grammar(self):
        return self._grammar != NULL

    def _check_open(self):
        if self._chain == NULL:
            raise InvalidParameterError("the sampler was closed")
        self.vocab.handle()

    def close(self):
        """Free the chain and grammar. Safe to call twice."""
        if self._chain != NULL:
            llama_sampler_free(self._chain)
            self._chain = NULL
        if self._grammar != NULL:
            llama_sampler_free(self._grammar)
            self._grammar = NULL
        free(self._scratch)
        self._scratch = NULL

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __dealloc__(self):
        if self._chain != NULL:
            llama_sampler_free(self._chain)
        if self._grammar != NULL:
            llama_sampler_free(self._grammar)
        free(self._scratch)


def sample_batch(LlamaContext context not None, samplers, batch_indices):
    """Sample every sequence of one decode step in one call: `samplers[row]` chooses from the logits at
    `batch_indices[row]` and accepts its token, all with the GIL released once. Returns the tokens,
    -1 for a row whose sampler found no token its constraints allow, and the reason of each such row
    (row -> message); other rows are sampled as usual."""
    tokens, failures, _ = _sample(context, samplers, batch_indices, None)
    return tokens, failures


cdef inline paddler_status _sample_row(
        bint argmax_only, llama_sampler * chain, llama_sampler * grammar, llama_context * context,
        int32_t batch_index, llama_token_data * scratch, int32_t n_vocab, llama_token * out_token,
        char * error_buffer, size_t error_buffer_size) noexcept nogil:
    if argmax_only:
        return paddler_sampler_argmax(context, batch_index, n_vocab, out_token, error_buffer, error_buffer_size)
    return paddler_sampler_sample(chain, grammar, context, batch_index, scratch, n_vocab, out_token,
                                  error_buffer, error_buffer_size)


def sample_and_push(LlamaContext context not None, samplers, batch_indices, outputs):
    """sample_batch, and in the same GIL release each row's token pushed into `outputs[row]` (a
    SequenceOutput: end of generation, marker classification, UTF-8 text, token budget). Returns the
    tokens, the failures and, per row, the push's flags (0 for a failed row)."""
    if len(outputs) != len(samplers):
        raise InvalidParameterError("samplers and outputs must have one length")
    return _sample(context, samplers, batch_indices, outputs)


cdef tuple _sample(LlamaContext context, samplers, batch_indices, outputs):
    cdef Py_ssize_t count = len(samplers)
    if len(batch_indices) != count:
        raise InvalidParameterError("samplers and batch_indices must have one length")
    cdef llama_context * c_context = context.handle()
    cdef llama_sampler ** chains = <llama_sampler **>malloc(max(count, 1) * sizeof(llama_sampler *))
    cdef llama_sampler ** grammars = <llama_sampler **>malloc(max(count, 1) * sizeof(llama_sampler *))
    cdef llama_token_data ** scratches = <llama_token_data **>malloc(max(count, 1) * sizeof(llama_token_data *))
    cdef int32_t * indices = <int32_t *>malloc(max(count, 1) * sizeof(int32_t))
    cdef llama_token * tokens = <llama_token *>malloc(max(count, 1) * sizeof(llama_token))
    cdef paddler_status * statuses = <paddler_status *>malloc(max(count, 1) * sizeof(paddler_status))
    cdef char * errors = <char *>malloc(max(count, 1) * 256)
    cdef sequence_state ** states = <sequence_state **>malloc(max(count, 1) * sizeof(sequence_state *))
    cdef int * events = <int *>malloc(max(count, 1) * sizeof(int))
    cdef bint * argmax_only = <bint *>malloc(max(count, 1) * sizeof(bint))
    cdef bint pushing = outputs is not None
    cdef int32_t n_vocab = context.n_vocab
    cdef Py_ssize_t row
    cdef LlamaSampler sampler
    try:
        if (chains == NULL or grammars == NULL or scratches == NULL or indices == NULL or tokens == NULL
                or statuses == NULL or errors == NULL or states == NULL or events == NULL
                or argmax_only == NULL):
            raise MemoryError()
        for row in range(count):
            sampler = samplers[row]
            sampler._check_open()
            if sampler.vocab.model is not context.model:
                raise InvalidParameterError("the context belongs to another model than this sampler")
            context.check_output(batch_indices[row])
            chains[row] = sampler._chain
            grammars[row] = sampler._grammar
            scratches[row] = sampler._scratch
            argmax_only[row] = sampler._argmax_only
            indices[row] = batch_indices[row]
            states[row] = (<SequenceOutput?>outputs[row]).state() if pushing else NULL
        with nogil:
            for row in range(count):
                tokens[row] = -1
                events[row] = 0
                statuses[row] = _sample_row(argmax_only[row], chains[row], grammars[row], c_context,
                                            indices[row], scratches[row], n_vocab, &tokens[row],
                                            errors + row * 256, 256)
                if pushing and statuses[row] == PADDLER_STATUS_OK:
                    events[row] = push_token(states[row], tokens[row])
        failures = {}
        for row in range(count):
            if statuses[row] != PADDLER_STATUS_OK:
                failures[row] = (errors + row * 256).decode("utf-8", "replace")
        return (
            [tokens[row] if statuses[row] == PADDLER_STATUS_OK else -1 for row in range(count)],
            failures,
            [events[row] for row in range(count)] if pushing else None,
        )
    finally:
        free(argmax_only)
        free(states)
        free(events)
        free(chains)
        free(grammars)
        free(scratches)
        free(indices)
        free(tokens)
        free(statuses)
        free(errors)
