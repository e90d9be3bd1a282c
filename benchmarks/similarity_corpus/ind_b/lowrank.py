import math

import torch


def _check_rank(W, r):
    biggest = min(W.shape[0], W.shape[1])
    if isinstance(r, bool) or not isinstance(r, int) or r < 1 or r > biggest:
        raise ValueError("bad rank %r for a matrix of shape %s" % (r, tuple(W.shape)))


def low_rank_factors(W, r):
    _check_rank(W, r)
    u, s, v = torch.svd(W.double())
    scale = torch.diag(torch.sqrt(s[:r]))
    A = (u[:, :r] @ scale).to(W.dtype)
    B = (scale @ v[:, :r].T).to(W.dtype)
    return A, B


def low_rank_approx(W, r):
    A, B = low_rank_factors(W, r)
    return torch.matmul(A, B)


def relative_error(W, W_approx):
    diff = ((W - W_approx) ** 2).sum().item()
    return math.sqrt(diff / (W ** 2).sum().item())


def rank_for_energy(W, energy):
    if not (0.0 < energy <= 1.0):
        raise ValueError("energy outside (0, 1]")
    s = torch.svd(W.double())[1] ** 2
    total, running, rank = s.sum().item(), 0.0, 0
    while rank < len(s):
        running += s[rank].item()
        rank += 1
        if running / total >= energy * (1 - 1e-12):
            break
    return rank


def compression_ratio(d, k, r):
    full = d * k
    factored = r * d + r * k
    return full / factored
