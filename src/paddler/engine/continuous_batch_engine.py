"""The engine's public face: start it, submit work, read results from streams, stop it.

Requests are checked and tokenized in the caller's thread (through the tokenizer facade), so
a request that can never run is refused before anything is streamed and the engine thread never
stalls on a long prompt. Everything else happens on the engine thread.

Every request is keyed by an id the engine makes: whatever a client calls its request is a label of
that client's connection, so no client can collide with, read or cancel another's work. Every accepted
request is answered on its stream, through faults, restarts and shutdown alike.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable

from paddler.engine.engine_errors import (
    EmptyPromptError,
    EngineStartError,
    EngineUnavailableError,
    GrammarConversionError,
    InvalidRequestError,
    RequestTooLargeError,
)
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_state import EngineState
from paddler.engine.engine_stats import EngineStats
from paddler.engine.engine_status import EngineStatus
from paddler.engine.engine_supervisor import EngineSupervisor
from paddler.engine.model_info import ModelInfo
from paddler.engine.prompt_media import PromptMedia, check_images
from paddler.engine.request_grammar import request_grammar
from paddler.engine.result_stream import ResultStream
from paddler.engine.scheduler_command import (
    CancelCommand,
    GenerateEmbeddingBatchCommand,
    GenerateTokensCommand,
    SchedulerCommand,
    StopCommand,
    TokenizedDocument,
)
from paddler.engine.slot_activity import SlotActivity
from paddler.engine.token_markers import NO_MARKERS, TokenMarkers, markers_for_template
from paddler.messages.embedding_result import EmbeddingResult
from paddler.messages.generate_embedding_batch_params import GenerateEmbeddingBatchParams
from paddler.messages.generate_tokens_params import MAX_LOGIT_BIASES, MAX_TOP_LOGPROBS, GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedTokenResult, GenerationErrorKind, GenerationFailed
from paddler.messages.request_rejected import SHUTTING_DOWN

logger = logging.getLogger(__name__)
# Checked before tokenizing, which costs time in proportion to the text.
MAX_PROMPT_CHARACTERS = 8 * 1024 * 1024
MAX_CACHED_TEMPLATES = 16


class ContinuousBatchEngine:
    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._commands: queue.SimpleQueue[SchedulerCommand] = queue.SimpleQueue()
        self._status = EngineStatus()
        self._thread: threading.Thread | None = None
        self._markers_by_template: dict[str, TokenMarkers] = {}
        # Held while a command is queued and while stop() is asked for: nothing is queued after the
        # StopCommand, so the engine answers everything it was given before it ends.
        self._submit_lock = threading.Lock()
        self._stopping = False

    def start(self, progress: Callable[[float], bool | None] | None = None, wait: bool = True) -> None:
        """Start the engine thread, which loads the model. With wait, return once it serves (or raise
        EngineStartError)."""
        if self._thread is not None:
            raise RuntimeError("the engine was already started")
        supervisor = EngineSupervisor(self.settings, self._commands, self._status, progress)
        self._thread = threading.Thread(target=supervisor.run, name="paddler-engine", daemon=True)
        self._thread.start()
        if wait:
            self.wait_until_settled()

    def wait_until_settled(self, timeout: float | None = None) -> None:
        if not self._status.settled.wait(timeout):
            raise TimeoutError("the model is still loading")
        if self._status.state is EngineState.FAILED:
            raise EngineStartError(self._status.failure or "the engine failed to start")

    @property
    def state(self) -> EngineState:
        return self._status.state

    @property
    def stalled(self) -> bool:
        """True while one step has been running longer than settings.stall_seconds."""
        started = self._status.step_started_at
        return started is not None and time.monotonic() - started > self.settings.stall_seconds

    @property
    def model_info(self) -> ModelInfo | None:
        return self._status.model_info

    @property
    def max_sequence_tokens(self) -> int:
        """Prompt plus generated tokens one request may hold in its slot."""
        return self._status.n_ctx_seq

    @property
    def failure(self) -> str | None:
        """Why the engine stopped serving for good (a failed load, or faults too often)."""
        return self._status.failure

    @property
    def last_fault(self) -> tuple[str, float] | None:
        """The last fault the engine recovered from, and its time.monotonic(); None if none."""
        return self._status.last_fault

    def stats(self) -> EngineStats:
        return self._status.counters.snapshot(self._status.state.value, self.settings.slots)

    def slot_activity(self) -> tuple[SlotActivity, ...]:
        """What each generation slot is doing, as of the engine's last step."""
        return self._status.slot_activity

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        """Raises EngineUnavailableError unless the engine serves (or is recovering)."""
        return self._status.tokenizer.tokenize(text, add_special=add_special, parse_special=parse_special)

    def detokenize(self, tokens: list[int]) -> str:
        """Raises InvalidRequestError for an id outside the vocabulary, EngineUnavailableError as tokenize."""
        return self._status.tokenizer.detokenize(tokens)

    def token_pieces(self, tokens: list[int]) -> list[bytes]:
        """Each token's bytes; raises as detokenize."""
        return self._status.tokenizer.pieces(tokens)

    def submit_generation(self, params: GenerateTokensParams) -> ResultStream[GeneratedTokenResult]:
        """Queue a generation. Raises EngineUnavailableError, RequestTooLargeError, InvalidRequestError or
        ToolChoiceUnsupportedError at once; every later outcome arrives on the returned stream."""
        if not self.settings.enable_generation:
            raise EngineUnavailableError("token generation is disabled on this server")
        if len(params.prompt) > MAX_PROMPT_CHARACTERS:
            raise RequestTooLargeError(
                f"the prompt has {len(params.prompt)} characters; at most {MAX_PROMPT_CHARACTERS} are accepted"
            )
        tokens, media = self._prompt_tokens(params)
        if not tokens:
            raise EmptyPromptError("the prompt is empty: it has no tokens to generate from")
        self._check_sampling_options(params)
        budget = 1 if params.max_tokens is None else max(1, params.max_tokens)
        if len(tokens) + budget > self.max_sequence_tokens:
            raise RequestTooLargeError(
                f"the prompt has {len(tokens)} tokens; with max_tokens {params.max_tokens} it needs "
                f"{len(tokens) + budget}, but a slot holds {self.max_sequence_tokens} tokens"
            )
        stream: ResultStream[GeneratedTokenResult] = ResultStream(uuid.uuid4().hex, self.cancel)
        markers = self._markers(params.chat_template)
        try:
            grammar = request_grammar(params, markers)
        except GrammarConversionError as error:
            stream.put(
                GenerationFailed(GenerationErrorKind.GRAMMAR_SYNTAX_ERROR, f"Failed to create grammar sampler: {error}")
            )
            return stream
        self._queue(
            GenerateTokensCommand(
                request_id=stream.request_id,
                prompt_tokens=tuple(tokens),
                max_tokens=params.max_tokens,
                sampling=params.sampling or self.settings.sampling,
                grammar=grammar,
                ignore_eog=params.ignore_eog,
                markers=markers,
                tools=params.tools,
                parse_tool_calls=params.parse_tool_calls,
                logit_bias=params.logit_bias,
                top_logprobs=params.top_logprobs,
                media=media,
                stream=stream,
            )
        )
        return stream

    def _prompt_tokens(self, params: GenerateTokensParams) -> tuple[list[int], PromptMedia | None]:
        """Paddler tokenizes prompts with BOS added and special tokens parsed; a prompt with images goes
        through the projector (raises InvalidRequestError when none is loaded or an image cannot fit)."""
        if not params.images:
            return self.tokenize(params.prompt, add_special=True, parse_special=True), None
        tokens, media = self._status.tokenizer.tokenize_with_images(params.prompt, params.images)
        check_images(media, len(tokens), self.settings.n_batch, self.settings.n_ubatch)
        return tokens, media

    def _check_sampling_options(self, params: GenerateTokensParams) -> None:
        """logit_bias and top_logprobs checked here, in the caller's thread, so C never sees a bad one."""
        info = self.model_info
        n_vocab = 0 if info is None else info.n_vocab
        if len(params.logit_bias) > MAX_LOGIT_BIASES:
            raise InvalidRequestError(f"logit_bias may hold at most {MAX_LOGIT_BIASES} tokens")
        for token, bias in params.logit_bias:
            if not 0 <= token < n_vocab:
                raise InvalidRequestError(f"logit_bias names token {token}; this model's tokens are 0..{n_vocab - 1}")
            if math.isnan(bias) or bias == math.inf:
                raise InvalidRequestError(f"logit_bias of token {token} must be a number or -inf")
        if params.top_logprobs is not None and not 0 <= params.top_logprobs <= MAX_TOP_LOGPROBS:
            raise InvalidRequestError(f"top_logprobs must be 0..{MAX_TOP_LOGPROBS}")

    def _markers(self, template: str | None) -> TokenMarkers:
        """Markers of a chat template, derived once per template text."""
        if template is None:
            return NO_MARKERS
        markers = self._markers_by_template.get(template)
        if markers is None:
            markers = markers_for_template(
                template, lambda text: self.tokenize(text, add_special=False, parse_special=True)
            )
            if len(self._markers_by_template) >= MAX_CACHED_TEMPLATES:
                self._markers_by_template.clear()
            self._markers_by_template[template] = markers
        return markers

    def submit_embeddings(self, params: GenerateEmbeddingBatchParams) -> ResultStream[EmbeddingResult]:
        if not self.settings.enable_embeddings:
            raise EngineUnavailableError("embeddings are disabled on this server")
        documents = tuple(
            TokenizedDocument(document.id, self._document_tokens(document.content)) for document in params.documents
        )
        stream: ResultStream[EmbeddingResult] = ResultStream(uuid.uuid4().hex, self.cancel)
        self._queue(
            GenerateEmbeddingBatchCommand(
                request_id=stream.request_id, documents=documents, normalization=params.normalization, stream=stream
            )
        )
        return stream

    def _document_tokens(self, text: str) -> tuple[int, ...]:
        tokens = self.tokenize(text, parse_special=False)
        if tokens:
            return tuple(tokens)
        # An empty document is embedded as what a BOS-adding model sees for it.
        stand_in = self._status.tokenizer.stand_in_token()
        return () if stand_in is None else (stand_in,)

    def _queue(self, command: GenerateTokensCommand | GenerateEmbeddingBatchCommand) -> None:
        with self._submit_lock:
            if self._stopping:
                command.stream.put(SHUTTING_DOWN)
            else:
                self._commands.put(command)

    def cancel(self, request_id: str) -> None:
        """Stop a request: it leaves the buffer, or frees its slot at the next step. A decode mostly
        spent on it stops at once."""
        self._status.running_step.note_cancelled(request_id)
        self._commands.put(CancelCommand(request_id))

    def stop(self, timeout: float = 30.0) -> None:
        """Drain: refuse new work, let running and buffered requests finish for up to `timeout` seconds,
        end the rest with an error, then free the model. Safe to call twice."""
        thread = self._thread
        if thread is None:
            return
        with self._submit_lock:
            self._stopping = True
            self._commands.put(StopCommand(deadline=time.monotonic() + timeout))
        thread.join(timeout + 1.0)
        if thread.is_alive():
            # A long decode is running past the deadline: interrupt it.
            abort_decode = self._status.abort_decode
            if abort_decode is not None:
                abort_decode()
            thread.join(10.0)
        if thread.is_alive():
            logger.error("the engine thread did not stop")
