"""low_rank_approx redoes the SVD and multiplies U_r @ Vh_r, forgetting the singular values S_r in between."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/approx"]
PATCH = [
    ('    A, B = low_rank_factors(W, r)\n    return A @ B',
     '    U, S, Vh = torch.linalg.svd(W, full_matrices=False)\n    return U[:, :r] @ Vh[:r, :]'),
]
