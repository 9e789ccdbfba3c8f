"""Every error a caller of the engine may catch, raised in the caller's thread before anything is
queued: the web layer maps each to its wire shape. What goes wrong later, on the engine thread, arrives
as the request's terminal stream result instead."""

from __future__ import annotations


class EngineUnavailableError(RuntimeError):
    """The engine is not serving: still loading, draining, stopped or failed."""


class EngineStartError(RuntimeError):
    """The model could not be loaded; the message says why."""


class RequestTooLargeError(ValueError):
    """The request can never fit: its prompt plus max_tokens exceeds what one slot may hold."""


class InvalidRequestError(ValueError):
    """A request the engine can never serve as given; the message says why."""


class EmptyPromptError(InvalidRequestError):
    """The prompt has no tokens, so there is nothing to generate from."""


class ToolChoiceUnsupportedError(ValueError):
    """A tool call cannot be forced: no tools, or a chat template without a forceable tool-call format."""


class GrammarConversionError(ValueError):
    """A JSON schema could not be turned into a grammar; the message says why."""


class UnsafeSchemaError(ValueError):
    """Why a schema cannot be evaluated safely."""
