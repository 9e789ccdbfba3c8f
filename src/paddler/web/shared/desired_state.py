"""Paddler's desired state (model, inference parameters, chat template override), strictly parsed, and
its mapping to and from engine settings."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from paddler.engine.engine_settings import EngineSettings
from paddler.messages.sampling_params import sampling_from
from paddler.web.shared.strict_wire_model import StrictWireModel

KvCacheDtype = Literal["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "IQ4_NL", "Q5_0", "Q5_1"]
PoolingType = Literal["Unspecified", "None", "Mean", "Cls", "Last", "Rank"]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
UInt32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
# The Hub's rule for each half of a repo_id.
_REPO_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")


class InferenceParameters(StrictWireModel):
    """Every field is required, as in Paddler (no serde defaults)."""

    n_batch: Annotated[int, Field(ge=0)]
    context_size: UInt32
    embedding_batch_size: Annotated[int, Field(ge=0)]
    enable_embeddings: bool
    image_resize_to_fit: UInt32
    k_cache_dtype: KvCacheDtype
    v_cache_dtype: KvCacheDtype
    min_p: float
    n_gpu_layers: Int32
    penalty_frequency: float
    penalty_last_n: Int32
    penalty_presence: float
    penalty_repeat: float
    pooling_type: PoolingType
    temperature: float
    top_k: Int32
    top_p: float


class HuggingFaceModelReference(StrictWireModel):
    filename: str
    repo_id: str
    revision: str


class HuggingFaceModel(StrictWireModel):
    HuggingFace: HuggingFaceModelReference


class UrlModelReference(StrictWireModel):
    url: str


class UrlModel(StrictWireModel):
    Url: UrlModelReference


class LocalModel(StrictWireModel):
    LocalToAgent: str


AgentDesiredModel = Literal["None"] | HuggingFaceModel | UrlModel | LocalModel


class ChatTemplateContent(StrictWireModel):
    content: str


class BalancerDesiredState(StrictWireModel):
    chat_template_override: ChatTemplateContent | None = None
    inference_parameters: InferenceParameters
    model: AgentDesiredModel
    multimodal_projection: AgentDesiredModel
    use_chat_template_override: bool


def desired_state_problem(state: BalancerDesiredState) -> str | None:
    """Paddler's checks beyond the JSON shape (its exact messages)."""
    if state.inference_parameters.image_resize_to_fit == 0:
        return "image_resize_to_fit must be greater than zero"
    if state.inference_parameters.embedding_batch_size == 0:
        return "embedding_batch_size must be greater than zero"
    return None


def _path_problem(name: str, text: str) -> str | None:
    """A repository-relative path that cannot leave the download folder: no absolute path, no `..`."""
    if not text or "\x00" in text or "\\" in text:
        return f"{name} must be a non-empty path without NUL or backslash characters"
    if text.startswith("/") or any(part in ("", ".", "..") for part in text.split("/")):
        return f"{name} must be a relative path without empty, '.' or '..' segments"
    return None


def huggingface_reference_problem(reference: HuggingFaceModelReference) -> str | None:
    """Why a Hugging Face reference can never name a file (checked before it is saved), or None."""
    parts = reference.repo_id.split("/")
    malformed = len(parts) > 2 or not all(_REPO_ID_PART.fullmatch(part) for part in parts)
    if malformed or ".." in reference.repo_id or "--" in reference.repo_id:
        return "repo_id must be 'name' or 'owner/name' (letters, digits, '-', '_' and '.'; at most 96 characters each)"
    return _path_problem("filename", reference.filename) or _path_problem("revision", reference.revision)


def parameters_from_settings(settings: EngineSettings, embedding_batch_size: int = 256) -> InferenceParameters:
    sampling = settings.sampling
    return InferenceParameters.model_validate(
        {
            "n_batch": settings.n_batch,
            "context_size": settings.context_size,
            "embedding_batch_size": embedding_batch_size,
            "enable_embeddings": settings.enable_embeddings,
            "image_resize_to_fit": settings.image_resize_to_fit,
            "k_cache_dtype": settings.k_cache_type.upper(),
            "v_cache_dtype": settings.v_cache_type.upper(),
            "min_p": sampling.min_p,
            "n_gpu_layers": settings.n_gpu_layers,
            "penalty_frequency": sampling.penalty_frequency,
            "penalty_last_n": sampling.penalty_last_n,
            "penalty_presence": sampling.penalty_presence,
            "penalty_repeat": sampling.penalty_repeat,
            "pooling_type": settings.pooling_type.capitalize(),
            "temperature": sampling.temperature,
            "top_k": sampling.top_k,
            "top_p": sampling.top_p,
        }
    )


def state_from_settings(settings: EngineSettings, chat_template_override: str | None) -> BalancerDesiredState:
    return BalancerDesiredState(
        chat_template_override=None
        if chat_template_override is None
        else ChatTemplateContent(content=chat_template_override),
        inference_parameters=parameters_from_settings(settings),
        model=LocalModel(LocalToAgent=str(settings.model_path)),
        multimodal_projection="None"
        if settings.projector_path is None
        else LocalModel(LocalToAgent=str(settings.projector_path)),
        use_chat_template_override=chat_template_override is not None,
    )


def settings_for(base: EngineSettings, parameters: InferenceParameters, model_path: Path) -> EngineSettings:
    """The command line's settings (`base`) with the desired parameters and model; raises ValueError when
    they conflict. Built from the command line, not the current engine, so that a small n_batch once
    applied does not shrink n_ubatch for every later state."""
    pooling = parameters.pooling_type.lower()
    return replace(
        base,
        model_path=model_path,
        n_batch=parameters.n_batch,
        n_ubatch=min(base.n_ubatch, parameters.n_batch),
        context_size=parameters.context_size,
        enable_embeddings=parameters.enable_embeddings,
        k_cache_type=parameters.k_cache_dtype.lower(),
        v_cache_type=parameters.v_cache_dtype.lower(),
        n_gpu_layers=parameters.n_gpu_layers,
        image_resize_to_fit=parameters.image_resize_to_fit,
        pooling_type="last" if pooling == "unspecified" else pooling,
        sampling=sampling_from(parameters, seed=base.sampling.seed),
    )


def applicable_state(state: BalancerDesiredState) -> dict[str, Any]:
    """What Paddler pushes to agents: no use_chat_template_override, the override only when used."""
    document = state.model_dump(mode="json")
    document.pop("use_chat_template_override")
    if not state.use_chat_template_override:
        document["chat_template_override"] = None
    return document
