"""Truncated SVD helpers."""

import torch


def low_rank_factors(W, r):
    if not 1 <= r <= min(W.shape):
        raise ValueError(f"rank {r} outside 1..{min(W.shape)}")
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    root = S[:r].sqrt()
    return U[:, :r] * root, root[:, None] * Vh[:r]


def low_rank_approx(W, r):
    left, right = low_rank_factors(W, r)
    return left @ right


def relative_error(W, W_approx):
    return float(torch.linalg.norm(W - W_approx) / torch.linalg.norm(W))


def rank_for_energy(W, energy):
    if energy <= 0 or energy > 1:
        raise ValueError("energy must be in (0, 1]")
    squares = torch.linalg.svdvals(W) ** 2
    fraction = torch.cumsum(squares, 0) / squares.sum()
    for index, value in enumerate(fraction.tolist()):
        if value >= energy - 1e-12:
            return index + 1
    return len(fraction)


def compression_ratio(d, k, r):
    return d * k / (r * (d + k))
