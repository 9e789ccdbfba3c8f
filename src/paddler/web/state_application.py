"""Applying a desired state: resolve its model, then swap the engine without restarting the server.

Policy: requests already running finish on the old engine (it drains for up to DRAIN_SECONDS); new
requests wait for the new engine (up to the buffer timeout, then 503); a state that fails to load is
reported as an agent issue and the previous model is loaded back, so the server is never left without
one. Changes of sampling defaults or the chat template alone apply at once, with no reload.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from paddler.engine.continuous_batch_engine import ContinuousBatchEngine, EngineStartError
from paddler.engine.engine_settings import EngineSettings
from paddler.web.api_error import ApiError
from paddler.web.chat_template import ChatTemplateError, check_chat_template
from paddler.web.desired_state import (
    BalancerDesiredState,
    HuggingFaceModel,
    LocalModel,
    UrlModel,
    settings_for,
    state_from_settings,
    validation_problem,
)
from paddler.web.download_progress import DownloadProgress
from paddler.web.model_download import ModelDownloadError, check_url, huggingface_model_path, url_model_path
from paddler.web.paddler_services import PaddlerServices

logger = logging.getLogger(__name__)
DRAIN_SECONDS = 30.0
_apply_lock = threading.Lock()


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
    return resolved


def current_desired_state(services: PaddlerServices) -> BalancerDesiredState:
    if isinstance(services.desired_state, BalancerDesiredState):
        return services.desired_state
    return state_from_settings(services.engine.settings, services.chat_template_override)


def prepare(services: PaddlerServices, state: BalancerDesiredState) -> tuple[EngineSettings, str | None]:
    """Check a desired state against this server; ApiError when it cannot be applied."""
    problem = validation_problem(state)
    if problem is not None:
        raise ApiError(400, problem)
    if state.multimodal_projection != "None":
        raise ApiError(501, "multimodal projections are not supported by this server yet")
    model_path: Path | None = None
    if isinstance(state.model, LocalModel):
        model_path = resolve_local_model(state.model.LocalToAgent, services.allowed_model_dirs)
    elif isinstance(state.model, UrlModel):
        try:
            check_url(state.model.Url.url)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
    elif not isinstance(state.model, HuggingFaceModel):
        raise ApiError(400, 'this server always serves a model; "None" is not accepted')
    override = None
    if state.use_chat_template_override:
        if state.chat_template_override is None:
            raise ApiError(400, "use_chat_template_override needs a chat_template_override")
        try:
            check_chat_template(state.chat_template_override.content)
        except ChatTemplateError as error:
            raise ApiError(400, str(error)) from None
        override = state.chat_template_override.content
    try:
        # A model still to be downloaded is checked with the current path; apply_state sets the real one.
        settings = settings_for(
            services.engine.settings, state.inference_parameters, model_path or services.engine.settings.model_path
        )
    except ValueError as error:
        raise ApiError(400, f"invalid inference parameters: {error}") from None
    return settings, override


def _fetch_model(state: BalancerDesiredState, settings: EngineSettings, progress: DownloadProgress) -> EngineSettings:
    """Settings naming a local file: downloads Hugging Face and URL models first."""
    if isinstance(state.model, HuggingFaceModel):
        return replace(settings, model_path=huggingface_model_path(state.model.HuggingFace, progress))
    if isinstance(state.model, UrlModel):
        return replace(settings, model_path=url_model_path(state.model.Url.url, progress))
    return settings


def save_state(path: Path, state: BalancerDesiredState) -> None:
    """Write atomically: a crash mid-write leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as stream:
        json.dump(state.model_dump(mode="json"), stream, indent=2)
    Path(stream.name).replace(path)


def load_state(path: Path) -> BalancerDesiredState | None:
    if not path.is_file():
        return None
    return BalancerDesiredState.model_validate_json(path.read_text())


def _needs_reload(current: EngineSettings, wanted: EngineSettings) -> bool:
    return replace(current, sampling=wanted.sampling) != wanted


def _swap_engine(services: PaddlerServices, settings: EngineSettings) -> None:
    old = services.engine
    services.engine_ready.clear()
    try:
        old.stop(timeout=DRAIN_SECONDS)
        engine = ContinuousBatchEngine(settings)
        try:
            engine.start()
        except EngineStartError as error:
            logger.error("cannot load %s: %s; loading the previous model back", settings.model_path, error)
            services.issues = [{"ModelCannotBeLoaded": {"model_path": str(settings.model_path)}}]
            engine = ContinuousBatchEngine(old.settings)
            engine.start()
        services.engine = engine
    finally:
        services.engine_ready.set()


def apply_state(
    services: PaddlerServices, state: BalancerDesiredState, settings: EngineSettings, override: str | None
) -> None:
    """Apply a prepared state (on a background thread: loading a model takes time)."""
    with _apply_lock:
        services.state_application_status = "AttemptedAndRetrying"
        services.issues = []
        services.desired_state = state
        services.chat_template_override = override
        if services.state_file is not None:
            save_state(services.state_file, state)
        try:
            settings = _fetch_model(state, settings, services.download)
        except ModelDownloadError as error:
            logger.error("cannot fetch the model: %r", str(error))
            services.issues = [error.issue]
            services.state_application_status = "Stuck"
            return
        if _needs_reload(services.engine.settings, settings):
            _swap_engine(services, settings)
        else:
            services.engine.settings = settings
        services.state_application_status = "Applied" if not services.issues else "Stuck"


def apply_in_background(services: PaddlerServices, state: BalancerDesiredState) -> None:
    settings, override = prepare(services, state)
    threading.Thread(
        target=apply_state, args=(services, state, settings, override), name="paddler-apply-state", daemon=True
    ).start()
