"""Public tests for part 3 (SVD truncation). The grader's hidden checks use other inputs."""

import pytest
import torch

from lora_lab.lowrank import compression_ratio, low_rank_approx, low_rank_factors, rank_for_energy, relative_error


def diagonal(values, rows, columns):
    W = torch.zeros(rows, columns)
    for i, v in enumerate(values):
        W[i, i] = v
    return W


def test_factors_have_the_right_shapes_and_multiply_to_the_truncation():
    W = diagonal([5.0, 3.0, 1.0], 4, 3)
    A, B = low_rank_factors(W, 2)
    assert A.shape == (4, 2) and B.shape == (2, 3)
    assert torch.allclose(A @ B, diagonal([5.0, 3.0], 4, 3), atol=1e-5)


def test_factors_reject_impossible_ranks():
    W = torch.ones(3, 5)
    with pytest.raises(ValueError):
        low_rank_factors(W, 0)
    with pytest.raises(ValueError):
        low_rank_factors(W, 4)


def test_full_rank_approximation_is_exact_and_error_is_zero():
    torch.manual_seed(0)
    W = torch.randn(5, 4)
    assert relative_error(W, low_rank_approx(W, 4)) < 1e-5
    assert isinstance(relative_error(W, W), float)


def test_relative_error_of_the_truncation():
    W = diagonal([3.0, 4.0], 2, 2)
    assert relative_error(W, low_rank_approx(W, 1)) == pytest.approx(3.0 / 5.0, rel=1e-5)


def test_rank_for_energy():
    W = diagonal([3.0, 2.0, 1.0], 3, 3)  # squares 9, 4, 1: shares 9/14, 13/14, 1
    assert rank_for_energy(W, 0.5) == 1
    assert rank_for_energy(W, 0.9) == 2
    assert rank_for_energy(W, 1.0) == 3


def test_compression_ratio():
    assert compression_ratio(4096, 4096, 8) == pytest.approx(256.0)
