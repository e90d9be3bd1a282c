"""Part 3 through the eigen-decomposition of W^T W (its eigenvalues are the squared singular values),
in float64 so that squaring does not cost the small singular values their precision."""

from __future__ import annotations

import torch

ALTERNATE_FOR = "lowrank"


def _spectrum(W):
    eigenvalues, V = torch.linalg.eigh(W.double().T @ W.double())
    order = torch.argsort(eigenvalues, descending=True)
    return eigenvalues[order].clamp(min=0), V[:, order]


def low_rank_factors(W, r):
    d, k = W.shape
    if not 1 <= r <= min(d, k):
        raise ValueError(f"need 1 <= r <= {min(d, k)}, got {r}")
    _, V = _spectrum(W)
    V_r = V[:, :r]
    return (W.double() @ V_r).to(W.dtype), V_r.T.contiguous().to(W.dtype)  # A = W V_r = U_r S_r, B = V_r^T


def low_rank_approx(W, r):
    A, B = low_rank_factors(W, r)
    return A @ B


def relative_error(W, W_approx):
    return (torch.linalg.norm(W - W_approx) / torch.linalg.norm(W)).item()


def rank_for_energy(W, energy):
    squares, _ = _spectrum(W)
    shares = torch.cumsum(squares, 0) / squares.sum()
    return int((shares < energy - 1e-9).sum().item()) + 1


def compression_ratio(d, k, r):
    return d * k / (r * (d + k))
