# cython: language_level=3
"""LlamaVocab: the tokenizer of a loaded model (tokenize, pieces, detokenize, special tokens).

It borrows the model's vocabulary, so it holds the model and refuses to work once the model is
closed. Every token id is range-checked here: llama.cpp indexes its tables with them unchecked.
"""

import re

from libc.stdint cimport INT32_MAX, int32_t
from libc.stdlib cimport free, malloc

from paddler.llama.libllama cimport (
    LLAMA_VOCAB_TYPE_BPE,
    LLAMA_VOCAB_TYPE_NONE,
    LLAMA_VOCAB_TYPE_PLAMO2,
    LLAMA_VOCAB_TYPE_RWKV,
    LLAMA_VOCAB_TYPE_SPM,
    LLAMA_VOCAB_TYPE_UGM,
    LLAMA_VOCAB_TYPE_WPM,
    llama_detokenize,
    llama_model_get_vocab,
    llama_token,
    llama_token_to_piece,
    llama_tokenize,
    llama_vocab,
    llama_vocab_bos,
    llama_vocab_eos,
    llama_vocab_eot,
    llama_vocab_get_add_bos,
    llama_vocab_get_add_eos,
    llama_vocab_get_type,
    llama_vocab_is_control,
    llama_vocab_is_eog,
    llama_vocab_n_tokens,
    llama_vocab_nl,
    llama_vocab_pad,
    llama_vocab_sep,
)
from paddler.llama.llama_model cimport LlamaModel

from paddler.llama.llama_error import ClosedHandleError, InvalidParameterError, TokenizeError

_VOCAB_TYPE_NAMES = {
    LLAMA_VOCAB_TYPE_NONE: "none",
    LLAMA_VOCAB_TYPE_SPM: "spm",
    LLAMA_VOCAB_TYPE_BPE: "bpe",
    LLAMA_VOCAB_TYPE_WPM: "wpm",
    LLAMA_VOCAB_TYPE_UGM: "ugm",
    LLAMA_VOCAB_TYPE_RWKV: "rwkv",
    LLAMA_VOCAB_TYPE_PLAMO2: "plamo2",
}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# One token per input byte plus room for BOS/EOS and a prefix space; retried when too small.
_TOKEN_HEADROOM = 8


cdef bytes _utf8(object text):
    """UTF-8 bytes for llama.cpp, which aborts on malformed UTF-8: bad input becomes U+FFFD."""
    if isinstance(text, str):
        try:
            return (<str>text).encode("utf-8")
        except UnicodeEncodeError:
            return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text).decode("utf-8", "replace").encode("utf-8")
    raise TypeError(f"text must be str or bytes, not {type(text).__name__}")


cdef _special_token(llama_token token):
    return None if token < 0 else token


cdef class LlamaVocab:
    """The vocabulary of `model`; obtained as `model.vocab`."""

    def __init__(self, LlamaModel model not None):
        self.model = model
        self._vocab = llama_model_get_vocab(model.handle())
        self.n_tokens = llama_vocab_n_tokens(self._vocab)

    cdef const llama_vocab * handle(self) except NULL:
        if self.model._handle == NULL:
            raise ClosedHandleError("the model of this vocabulary was closed")
        return self._vocab

    cdef int check_token(self, long long token) except -1:
        if token < 0 or token >= self.n_tokens:
            raise InvalidParameterError(f"token id {token} is outside the vocabulary [0, {self.n_tokens})")
        return 0

    @property
    def type(self):
        """Tokenizer family: spm, bpe, wpm, ugm, rwkv, plamo2 or none."""
        return _VOCAB_TYPE_NAMES.get(llama_vocab_get_type(self.handle()), "unknown")

    @property
    def bos(self):
        return _special_token(llama_vocab_bos(self.handle()))

    @property
    def eos(self):
        return _special_token(llama_vocab_eos(self.handle()))

    @property
    def eot(self):
        return _special_token(llama_vocab_eot(self.handle()))

    @property
    def sep(self):
        return _special_token(llama_vocab_sep(self.handle()))

    @property
    def nl(self):
        return _special_token(llama_vocab_nl(self.handle()))

    @property
    def pad(self):
        return _special_token(llama_vocab_pad(self.handle()))

    @property
    def add_bos(self):
        return llama_vocab_get_add_bos(self.handle())

    @property
    def add_eos(self):
        return llama_vocab_get_add_eos(self.handle())

    def is_eog(self, long long token):
        """True for end-of-generation tokens (EOS, EOT and the model's other stop tokens)."""
        self.check_token(token)
        return llama_vocab_is_eog(self.handle(), <llama_token>token)

    def is_control(self, long long token):
        self.check_token(token)
        return llama_vocab_is_control(self.handle(), <llama_token>token)

    def eog_tokens(self):
        """Every end-of-generation token id of the vocabulary."""
        cdef const llama_vocab * vocab = self.handle()
        cdef llama_token token
        return frozenset([token for token in range(self.n_tokens) if llama_vocab_is_eog(vocab, token)])

    def tokenize(self, text, *, bint add_special=True, bint parse_special=False):
        """Token ids of `text` (str or bytes). NUL characters are kept; lone surrogates and malformed
        UTF-8 become U+FFFD. add_special adds BOS/EOS as the model asks; parse_special turns
        special-token text such as `<|im_start|>` into its token."""
        cdef bytes encoded = _utf8(text)
        if len(encoded) > INT32_MAX - _TOKEN_HEADROOM:
            raise TokenizeError(f"text of {len(encoded)} bytes is too long to tokenize")
        cdef const llama_vocab * vocab = self.handle()
        cdef const char * c_text = encoded
        cdef int32_t text_length = <int32_t>len(encoded)
        cdef int32_t capacity = text_length + _TOKEN_HEADROOM
        cdef int32_t count
        cdef llama_token * tokens = NULL
        try:
            while True:
                tokens = <llama_token *>malloc(capacity * sizeof(llama_token))
                if tokens == NULL:
                    raise MemoryError()
                with nogil:
                    count = llama_tokenize(vocab, c_text, text_length, tokens, capacity, add_special,
                                           parse_special)
                if count >= 0:
                    return [tokens[index] for index in range(count)]
                if count == -2147483648:
                    raise TokenizeError("tokenization overflowed the int32 token count")
                free(tokens)
                tokens = NULL
                capacity = -count
        finally:
            free(tokens)

    def token_to_piece(self, long long token, *, bint special=False):
        """The bytes of one token; may be part of a multi-byte UTF-8 character."""
        self.check_token(token)
        cdef const llama_vocab * vocab = self.handle()
        cdef char small[64]
        cdef int32_t length = llama_token_to_piece(vocab, <llama_token>token, small, sizeof(small), 0, special)
        if length >= 0:
            return small[:length]
        cdef bytearray large = bytearray(-length)
        length = llama_token_to_piece(vocab, <llama_token>token, large, len(large), 0, special)
        if length < 0:
            raise TokenizeError(f"could not render token {token}")
        return bytes(large[:length])

    def detokenize(self, tokens, *, bint remove_special=False, bint unparse_special=False):
        """The text of a token sequence; bytes that are not valid UTF-8 become U+FFFD."""
        cdef const llama_vocab * vocab = self.handle()
        cdef Py_ssize_t count = len(tokens)
        if count > INT32_MAX // 64:
            raise TokenizeError(f"{count} tokens are too many to detokenize at once")
        cdef llama_token * ids = <llama_token *>malloc(max(count, 1) * sizeof(llama_token))
        if ids == NULL:
            raise MemoryError()
        cdef Py_ssize_t index
        cdef int32_t capacity = <int32_t>(count * 8 + 16)
        cdef int32_t length
        cdef char * text = NULL
        try:
            for index in range(count):
                self.check_token(tokens[index])
                ids[index] = tokens[index]
            while True:
                text = <char *>malloc(capacity)
                if text == NULL:
                    raise MemoryError()
                with nogil:
                    length = llama_detokenize(vocab, ids, <int32_t>count, text, capacity, remove_special,
                                              unparse_special)
                if length >= 0:
                    return text[:length].decode("utf-8", "replace")
                free(text)
                text = NULL
                capacity = -length
        finally:
            free(ids)
            free(text)

    def __repr__(self):
        return f"<LlamaVocab {self.n_tokens} tokens of {self.model!r}>"
