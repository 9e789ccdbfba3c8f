"""Embedding normalization with Paddler's exact math, vectorized with numpy."""

from __future__ import annotations

import numpy
import numpy.typing

from paddler.messages.embedding_normalization import EmbeddingNormalization, NormalizationKind

FloatVector = numpy.typing.NDArray[numpy.float32]


def normalize_embedding(vector: FloatVector, normalization: EmbeddingNormalization) -> FloatVector:
    """L2: x / sqrt(sum x^2). RmsNorm: x / sqrt(mean x^2 + epsilon). A zero divisor gives zeros."""
    values = numpy.asarray(vector, dtype=numpy.float32)
    if normalization.kind is NormalizationKind.NONE or values.size == 0:
        return values
    square_sum = numpy.dot(values, values)
    if normalization.kind is NormalizationKind.L2:
        divisor = numpy.sqrt(square_sum)
    else:
        divisor = numpy.sqrt(square_sum / numpy.float32(values.size) + numpy.float32(normalization.epsilon))
    if divisor == 0 or not numpy.isfinite(divisor):
        return numpy.zeros_like(values)
    normalized: FloatVector = (values / divisor).astype(numpy.float32)
    return normalized
