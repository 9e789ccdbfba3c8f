"""Applying a desired state: check it, save it, resolve its model, then swap the engine without a restart.

Policy:
- A state is checked before it is saved: what can never apply (a malformed Hugging Face reference, a
  URL or local file that is not allowed, a file that is not GGUF, a template that does not compile) is
  refused at PUT and never reaches the state file.
- States are applied one at a time, in the order they were accepted, the last one winning (StateApplier).
- Requests already running finish on the old engine (it drains for up to DRAIN_SECONDS); requests that
  were waiting for a slot, or that arrive during the swap, wait for the new engine up to the buffer
  timeout (ResubmittingStream), then 503/504.
- Whatever fails while applying becomes an agent issue and the status Stuck, never an exception: the
  previous model is loaded back, then the command line's; when none loads, the server retries the
  command line's model with a backoff until one does or a newer state arrives.
- Changes of sampling defaults or the chat template alone apply at once, with no reload.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine
from paddler.engine.engine_errors import EngineStartError
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_state import EngineState
from paddler.web.management.model_download import (
    ModelDownloadError,
    check_url,
    huggingface_model_path,
    url_model_path,
)
from paddler.web.management.state_file import save_state
from paddler.web.shared.api_error import ApiError
from paddler.web.shared.chat_template import ChatTemplateError, check_chat_template
from paddler.web.shared.desired_state import (
    AgentDesiredModel,
    BalancerDesiredState,
    HuggingFaceModel,
    LocalModel,
    UrlModel,
    desired_state_problem,
    huggingface_reference_problem,
    settings_for,
    state_from_settings,
)
from paddler.web.shared.paddler_services import PaddlerServices

logger = logging.getLogger(__name__)
DRAIN_SECONDS = 30.0
GGUF_MAGIC = b"GGUF"
# Backoff between attempts to load some model when none would load: 1, 2, 4 … seconds, at most this.
MAX_RETRY_SECONDS = 30.0
# Checking, saving and queueing a state happen together, so the file and the queue agree on the last PUT.
_accept_lock = threading.Lock()


def resolve_local_model(path_text: str, allowed_dirs: tuple[Path, ...]) -> Path:
    """The model file a desired state names, decided on the resolved path before the file is read."""
    if "\x00" in path_text:
        raise ApiError(400, "model path contains a NUL character")
    resolved = Path(os.path.realpath(path_text))
    if not any(resolved.is_relative_to(directory) for directory in allowed_dirs):
        raise ApiError(403, "model path is outside the allowed model directories")
    if not resolved.exists():
        raise ApiError(404, "model file does not exist")
    if not resolved.is_file():
        raise ApiError(400, "model path is not a regular file")
    try:
        with resolved.open("rb") as model_file:
            magic = model_file.read(len(GGUF_MAGIC))
    except OSError as error:
        raise ApiError(400, f"model file cannot be read: {error.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ApiError(400, "model file is not a GGUF file")
    return resolved


def current_desired_state(services: PaddlerServices) -> BalancerDesiredState:
    if isinstance(services.desired_state, BalancerDesiredState):
        return services.desired_state
    return state_from_settings(services.engine.settings, services.chat_template_override)


def _check_model(services: PaddlerServices, model: AgentDesiredModel) -> Path | None:
    """The local file a model names (None for one still to download); ApiError when it can never load."""
    if isinstance(model, LocalModel):
        return resolve_local_model(model.LocalToAgent, services.allowed_model_dirs)
    if isinstance(model, UrlModel):
        try:
            check_url(model.Url.url, services.model_url_hosts)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        return None
    if isinstance(model, HuggingFaceModel):
        problem = huggingface_reference_problem(model.HuggingFace)
        if problem is not None:
            raise ApiError(400, f"invalid Hugging Face reference: {problem}")
        return None
    raise ApiError(400, 'this server always serves a model; "None" is not accepted')


def prepare(services: PaddlerServices, state: BalancerDesiredState) -> tuple[EngineSettings, str | None]:
    """Check a desired state against this server; ApiError when it cannot be applied."""
    problem = desired_state_problem(state)
    if problem is not None:
        raise ApiError(400, problem)
    model_path = _check_model(services, state.model)
    # A projector still to be downloaded is resolved when the state is applied.
    projection = state.multimodal_projection
    projector_path = None if projection == "None" else _check_model(services, projection)
    override = None
    if state.use_chat_template_override:
        if state.chat_template_override is None:
            raise ApiError(400, "use_chat_template_override needs a chat_template_override")
        try:
            check_chat_template(state.chat_template_override.content)
        except ChatTemplateError as error:
            raise ApiError(400, str(error)) from None
        override = state.chat_template_override.content
    base = services.command_line_settings
    try:
        # A model still to be downloaded is checked with the base path; the application sets the real one.
        settings = settings_for(base, state.inference_parameters, model_path or base.model_path)
        settings = replace(settings, projector_path=projector_path)
    except ValueError as error:
        raise ApiError(400, f"invalid inference parameters: {error}") from None
    return settings, override


def _model_description(model: AgentDesiredModel) -> str:
    """The model as Paddler's issues name it."""
    if isinstance(model, LocalModel):
        return model.LocalToAgent
    if isinstance(model, UrlModel):
        return model.Url.url
    if isinstance(model, HuggingFaceModel):
        reference = model.HuggingFace
        return f"{reference.repo_id}/{reference.revision}/{reference.filename}"
    return "None"


def refusal_issue(state: BalancerDesiredState, error: ApiError) -> dict[str, Any]:
    """The agent issue of a saved state that this server refuses (reported at start)."""
    model_path = {"model_path": _model_description(state.model)}
    if isinstance(state.model, LocalModel) and error.status == 404:
        return {"ModelFileDoesNotExist": model_path}
    if isinstance(state.model, UrlModel) and error.status == 400:
        return {"DownloadUrlIsMalformed": model_path}
    if isinstance(state.model, HuggingFaceModel) and error.status == 400:
        return {"HuggingFaceModelDoesNotExist": model_path}
    if state.chat_template_override is not None and "chat template" in error.message:
        return {
            "ChatTemplateDoesNotCompile": {
                "error": error.message,
                "model_path": model_path,
                "template_content": state.chat_template_override.content,
            }
        }
    return {"ModelCannotBeLoaded": model_path}


def _local_model_settings(
    services: PaddlerServices, state: BalancerDesiredState, settings: EngineSettings
) -> EngineSettings:
    """Settings naming a local file: downloads Hugging Face and URL models first; a local file is checked
    again (it may have gone since the PUT). Raises ModelDownloadError with the agent issue."""
    model_path = _local_file(services, state, state.model)
    if model_path is not None:
        settings = replace(settings, model_path=model_path)
    projection = state.multimodal_projection
    projector_path = None if projection == "None" else _local_file(services, state, projection)
    return settings if projector_path is None else replace(settings, projector_path=projector_path)


def _local_file(services: PaddlerServices, state: BalancerDesiredState, model: AgentDesiredModel) -> Path | None:
    """The downloaded file of a Hugging Face or URL source; None for a local file, checked again."""
    if isinstance(model, HuggingFaceModel):
        return huggingface_model_path(model.HuggingFace, services.download)
    if isinstance(model, UrlModel):
        return url_model_path(model.Url.url, services.download, services.model_url_hosts)
    if isinstance(model, LocalModel):
        try:
            resolve_local_model(model.LocalToAgent, services.allowed_model_dirs)
        except ApiError as error:
            raise ModelDownloadError(refusal_issue(state, error), error.message) from None
    return None


def _needs_reload(engine: ContinuousBatchEngine, wanted: EngineSettings) -> bool:
    return engine.state is not EngineState.READY or replace(engine.settings, sampling=wanted.sampling) != wanted


def _add_issue(services: PaddlerServices, issue: dict[str, Any]) -> None:
    if issue not in services.issues:
        services.issues = [*services.issues, issue]


def _distinct(candidates: Sequence[EngineSettings]) -> list[EngineSettings]:
    distinct: list[EngineSettings] = []
    for settings in candidates:
        if settings not in distinct:
            distinct.append(settings)
    return distinct


def _start_engine(settings: EngineSettings) -> tuple[ContinuousBatchEngine, str | None]:
    """A started engine and None, or the engine that failed to start and the reason."""
    engine = ContinuousBatchEngine(settings)
    try:
        engine.start()
    except EngineStartError as error:
        return engine, str(error)
    return engine, None


def _load_issue(settings: EngineSettings, failure: str) -> dict[str, Any]:
    """Paddler's issue for settings whose engine did not start: its projector, or else its model."""
    if settings.projector_path is not None and "multimodal projector" in failure:
        return {"MultimodalProjectionCannotBeLoaded": {"model_path": str(settings.projector_path)}}
    return {"ModelCannotBeLoaded": {"model_path": str(settings.model_path)}}


def swap_engine(services: PaddlerServices, candidates: Sequence[EngineSettings]) -> EngineSettings | None:
    """Drain and stop the engine, then start the first candidate that loads (the others become issues)
    and return its settings. When none loads, the last failed engine stands in (it refuses requests with
    503 and /ready says so) and None is returned. Requests wait on engine_ready meanwhile."""
    old = services.engine
    services.engine_ready.clear()
    try:
        old.stop(timeout=DRAIN_SECONDS)
        failed: ContinuousBatchEngine | None = None
        for settings in _distinct(candidates):
            if failed is not None:
                failed.stop(timeout=0)
            engine, failure = _start_engine(settings)
            if failure is None:
                services.engine = engine
                return settings
            logger.error("cannot load %s: %s", settings.model_path, failure)
            _add_issue(services, _load_issue(settings, failure))
            failed = engine
        if failed is not None:
            services.engine = failed
        return None
    finally:
        services.engine_ready.set()


@dataclass(slots=True)
class StateApplication:
    """Applying one accepted state; an attempt never raises. When no model loads at all, later attempts
    retry the models that served before (the previous one, then the command line's) with a backoff."""

    services: PaddlerServices
    state: BalancerDesiredState
    settings: EngineSettings
    override: str | None
    fallbacks: list[EngineSettings] = field(default_factory=list)
    failed_attempts: int = 0

    def __call__(self) -> float | None:
        services = self.services
        if services.shutting_down.is_set():
            return None
        services.state_application_status = "AttemptedAndRetrying"
        try:
            done = self._retry_fallbacks() if self.failed_attempts else self._first_attempt()
        except Exception:  # an application reports, it never raises
            logger.exception("applying the desired state failed")
            _add_issue(services, {"ModelCannotBeLoaded": {"model_path": _model_description(self.state.model)}})
            services.state_application_status = "Stuck"
            return None
        if done:
            return None
        self.failed_attempts += 1
        services.state_application_status = "Stuck"
        delay = min(MAX_RETRY_SECONDS, 2.0 ** (self.failed_attempts - 1))
        logger.error("no model could be loaded; trying %s again in %.0f s", self.fallbacks[-1].model_path, delay)
        return delay

    def _first_attempt(self) -> bool:
        """True once this attempt is over (applied or reported); False when no model serves at all."""
        services = self.services
        services.issues = []
        try:
            settings = _local_model_settings(services, self.state, self.settings)
        except ModelDownloadError as error:
            logger.error("cannot fetch the model: %s", error)
            services.issues = [error.issue]
            services.state_application_status = "Stuck"
            return True
        if not _needs_reload(services.engine, settings):
            services.engine.settings = settings
            services.chat_template_override = self.override
            services.state_application_status = "Applied"
            return True
        previous = services.engine
        if previous.state is not EngineState.FAILED:
            self.fallbacks.append(previous.settings)
        self.fallbacks.append(services.command_line_settings)
        loaded = swap_engine(services, [settings, *self.fallbacks])
        if loaded is None:
            return False
        if loaded == settings:
            services.chat_template_override = self.override
        services.state_application_status = "Applied" if not services.issues else "Stuck"
        return True

    def _retry_fallbacks(self) -> bool:
        services = self.services
        loaded = swap_engine(services, self.fallbacks)
        if loaded is None:
            return False
        logger.warning("serving %s again", loaded.model_path)
        services.state_application_status = "Stuck"
        return True


def accept_state(services: PaddlerServices, state: BalancerDesiredState) -> None:
    """Check a PUT state, save it, then queue it for application. Raises ApiError: 4xx/501 for a state
    that can never apply (nothing is saved then), 500 when it cannot be saved."""
    with _accept_lock:
        settings, override = prepare(services, state)
        if services.state_file is not None:
            try:
                save_state(services.state_file, state)
            except OSError as error:
                logger.error("cannot save the desired state to %s: %s", services.state_file, error)
                raise ApiError(500, f"cannot store the desired state: {error.strerror or error}") from None
        services.desired_state = state
        # As Paddler: a new state is Fresh until an attempt ends, so a caller can wait for it to apply.
        services.state_application_status = "Fresh"
        services.state_applier.submit(StateApplication(services, state, settings, override))


def restore_state(services: PaddlerServices, state: BalancerDesiredState) -> None:
    """Apply a saved state at start (the engine serves the command line's model already). A state this
    server refuses leaves that model serving and is reported in the log and as an agent issue."""
    services.desired_state = state
    try:
        settings, override = prepare(services, state)
    except ApiError as error:
        logger.error(
            "the saved desired state cannot be applied (%s); serving %s from the command line",
            error.message,
            services.engine.settings.model_path,
        )
        services.issues = [refusal_issue(state, error)]
        services.state_application_status = "Stuck"
        return
    application = StateApplication(services, state, settings, override)
    if application() is not None:
        services.state_applier.submit(application)
