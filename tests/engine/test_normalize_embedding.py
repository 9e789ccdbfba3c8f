"""normalize_embedding: Paddler's L2 and RmsNorm math; zero vectors stay zero."""

from __future__ import annotations

import numpy

from paddler.engine.normalize_embedding import normalize_embedding
from paddler.messages.embedding_normalization import (
    L2_NORMALIZATION,
    NO_NORMALIZATION,
    EmbeddingNormalization,
    NormalizationKind,
)

VECTOR = numpy.array([3.0, -4.0, 0.0, 12.0], dtype=numpy.float32)


def test_none_returns_the_vector_unchanged() -> None:
    assert numpy.array_equal(normalize_embedding(VECTOR, NO_NORMALIZATION), VECTOR)


def test_l2_gives_unit_norm() -> None:
    result = normalize_embedding(VECTOR, L2_NORMALIZATION)
    assert result.dtype == numpy.float32
    assert abs(numpy.linalg.norm(result) - 1.0) < 1e-6
    assert numpy.allclose(result, VECTOR / 13.0)


def test_rms_norm_gives_unit_rms_with_epsilon_in_the_root() -> None:
    epsilon = 1e-3
    result = normalize_embedding(VECTOR, EmbeddingNormalization(NormalizationKind.RMS_NORM, epsilon))
    expected = VECTOR / numpy.sqrt(numpy.mean(VECTOR**2) + epsilon)
    assert numpy.allclose(result, expected)
    plain = normalize_embedding(VECTOR, EmbeddingNormalization(NormalizationKind.RMS_NORM, 0.0))
    assert abs(numpy.sqrt(numpy.mean(plain**2)) - 1.0) < 1e-6


def test_zero_and_empty_vectors() -> None:
    zero = numpy.zeros(8, dtype=numpy.float32)
    assert not normalize_embedding(zero, L2_NORMALIZATION).any()
    assert not normalize_embedding(zero, EmbeddingNormalization(NormalizationKind.RMS_NORM, 0.0)).any()
    assert normalize_embedding(numpy.zeros(0, dtype=numpy.float32), L2_NORMALIZATION).size == 0
