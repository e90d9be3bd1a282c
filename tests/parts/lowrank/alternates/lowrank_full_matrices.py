"""Part 3 with torch.linalg.svd(full_matrices=True), slicing the square U and Vh, and numpy-free norms."""

from __future__ import annotations

import torch

ALTERNATE_FOR = "lowrank"


def low_rank_factors(W, r):
    if r < 1 or r > min(W.shape):
        raise ValueError(f"r={r} must be in [1, {min(W.shape)}]")
    U, S, Vh = torch.linalg.svd(W, full_matrices=True)
    return U[:, :r] @ torch.diag(S[:r]), Vh[:r]


def low_rank_approx(W, r):
    A, B = low_rank_factors(W, r)
    return A @ B


def relative_error(W, W_approx):
    return float(torch.sqrt(((W - W_approx) ** 2).sum()) / torch.sqrt((W ** 2).sum()))


def rank_for_energy(W, energy):
    S = torch.linalg.svd(W, full_matrices=True).S.double()
    total = (S ** 2).sum()
    kept = 0.0
    for r, s in enumerate(S, start=1):
        kept += float(s ** 2)
        if kept >= energy * float(total) - 1e-12:
            return r
    return len(S)


def compression_ratio(d, k, r):
    return (d * k) / (r * d + r * k)
