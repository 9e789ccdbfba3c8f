"""How embedding vectors are normalized (Paddler's `EmbeddingNormalizationMethod`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class NormalizationKind(Enum):
    NONE = "None"
    L2 = "L2"
    RMS_NORM = "RmsNorm"


@dataclass(frozen=True, slots=True)
class EmbeddingNormalization:
    kind: NormalizationKind
    # Only RMS_NORM uses it: rms = sqrt(mean(x^2) + epsilon).
    epsilon: float = 0.0


NO_NORMALIZATION = EmbeddingNormalization(NormalizationKind.NONE)
L2_NORMALIZATION = EmbeddingNormalization(NormalizationKind.L2)
