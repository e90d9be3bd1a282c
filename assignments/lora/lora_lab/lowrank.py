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
    raise NotImplementedError('TODO: validate r, take the SVD, keep the first r singular triplets, fold S into A')


def low_rank_approx(W: torch.Tensor, r: int) -> torch.Tensor:
    """The best rank-``r`` approximation ``A @ B`` of ``W``."""
    # TODO: multiply the factors from low_rank_factors
    raise NotImplementedError('TODO: multiply the factors from low_rank_factors')


def relative_error(W: torch.Tensor, W_approx: torch.Tensor) -> float:
    """``||W - W_approx||_F / ||W||_F`` as a Python float."""
    # TODO: Frobenius norm of the difference divided by the Frobenius norm of W
    raise NotImplementedError('TODO: Frobenius norm of the difference divided by the Frobenius norm of W')


def rank_for_energy(W: torch.Tensor, energy: float) -> int:
    """The smallest ``r`` whose singular values keep at least ``energy`` (0 < energy <= 1) of the
    sum of squared singular values of ``W``."""
    # TODO: cumulative sum of squared singular values, divided by the total; first r reaching energy
    raise NotImplementedError('TODO: cumulative sum of squared singular values, divided by the total; first r reaching energy')


def compression_ratio(d: int, k: int, r: int) -> float:
    """How many times fewer numbers the factors hold than the full matrix: ``d*k / (r*(d+k))``."""
    # TODO: parameters of the full d x k matrix over those of the two factors
    raise NotImplementedError('TODO: parameters of the full d x k matrix over those of the two factors')
