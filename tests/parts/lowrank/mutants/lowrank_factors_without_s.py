"""low_rank_factors returns A = U_r without scaling it by the singular values S_r."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/factors", "lowrank/approx", "lowrank/invalid_rank"]
PATCH = [
    ('return U[:, :r] * S[:r], Vh[:r, :]',
     'return U[:, :r], Vh[:r, :]'),
]
