"""B takes the first r columns of Vh (Vh[:, :r]) instead of its first r rows."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/factors", "lowrank/approx"]
PATCH = [
    ('return U[:, :r] * S[:r], Vh[:r, :]',
     'return U[:, :r] * S[:r], Vh[:, :r]'),
]
