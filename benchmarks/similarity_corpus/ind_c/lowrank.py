"""SVD truncation with a singular value helper shared by every function."""
import torch


def _svd(W):
    return torch.linalg.svd(W.to(torch.float64), full_matrices=False)


def low_rank_factors(W, r):
    if r < 1 or r > min(W.shape):
        raise ValueError("rank out of range")
    U, S, Vh = _svd(W)
    A = U[:, :r] @ torch.diag(S[:r])
    B = Vh[:r, :]
    return A.to(W.dtype), B.to(W.dtype)


def low_rank_approx(W, r):
    A, B = low_rank_factors(W, r)
    return A @ B


def relative_error(W, W_approx):
    return (torch.norm(W - W_approx, p="fro") / torch.norm(W, p="fro")).item()


def rank_for_energy(W, energy):
    if not 0 < energy <= 1:
        raise ValueError("energy must lie in (0, 1]")
    _, S, _ = _svd(W)
    share = torch.cumsum(S * S, dim=0) / torch.sum(S * S)
    return int(torch.searchsorted(share, torch.tensor(energy, dtype=share.dtype) - 1e-12).item()) + 1


def compression_ratio(d, k, r):
    return float(d) * k / (r * (d + k))
