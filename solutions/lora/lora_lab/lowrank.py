"""Part 3 - low-rank approximation with the SVD (the Eckart-Young theorem).

For ``W = U S Vh``, keeping the ``r`` largest singular values gives the best rank-``r`` approximation
of ``W`` in Frobenius norm. LoRA bets that the *update* to a weight matrix is close to low rank, so it
can be stored as two thin factors ``A`` (``d x r``) and ``B`` (``r x k``) instead of ``d x k`` numbers.

All inputs are 2-D floating-point ``torch`` tensors; none of these functions may modify them.
"""

from __future__ import annotations

import torch


def low_rank_factors(W: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-``r`` factors of ``W`` (``d x k``): ``A = U_r * S_r`` (``d x r``) and ``B = Vh_r`` (``r x k``).

    Use ``torch.linalg.svd``. Raises ``ValueError`` when ``r < 1`` or ``r > min(d, k)``.
    """
    # TODO: validate r, take the SVD, keep the first r singular triplets, fold S into A
    # BEGIN SOLUTION
    d, k = W.shape
    if not 1 <= r <= min(d, k):
        raise ValueError(f"rank r must be between 1 and min(d, k) = {min(d, k)} for a {d}x{k} matrix, got {r}")
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    return U[:, :r] * S[:r], Vh[:r, :]
    # END SOLUTION


def low_rank_approx(W: torch.Tensor, r: int) -> torch.Tensor:
    """The best rank-``r`` approximation ``A @ B`` of ``W``."""
    # TODO: multiply the factors from low_rank_factors
    # BEGIN SOLUTION
    A, B = low_rank_factors(W, r)
    return A @ B
    # END SOLUTION


def relative_error(W: torch.Tensor, W_approx: torch.Tensor) -> float:
    """``||W - W_approx||_F / ||W||_F`` as a Python float."""
    # TODO: Frobenius norm of the difference divided by the Frobenius norm of W
    # BEGIN SOLUTION
    return (torch.linalg.matrix_norm(W - W_approx) / torch.linalg.matrix_norm(W)).item()
    # END SOLUTION


def rank_for_energy(W: torch.Tensor, energy: float) -> int:
    """The smallest ``r`` whose singular values keep at least ``energy`` (0 < energy <= 1) of the
    sum of squared singular values of ``W``."""
    # TODO: cumulative sum of squared singular values, divided by the total; first r reaching energy
    # BEGIN SOLUTION
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    squares = torch.linalg.svdvals(W.double()) ** 2
    kept = torch.cumsum(squares, dim=0) / squares.sum()
    # A tolerance so that energy=1.0 is reached despite rounding in the cumulative sum.
    return int(torch.searchsorted(kept, torch.tensor(energy, dtype=kept.dtype) - 1e-12).item()) + 1
    # END SOLUTION


def compression_ratio(d: int, k: int, r: int) -> float:
    """How many times fewer numbers the factors hold than the full matrix: ``d*k / (r*(d+k))``."""
    # TODO: parameters of the full d x k matrix over those of the two factors
    # BEGIN SOLUTION
    return d * k / (r * (d + k))
    # END SOLUTION
