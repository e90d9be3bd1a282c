"""rank_for_energy returns the 0-based index of the first sufficient prefix, missing the + 1."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/rank_for_energy"]
PATCH = [
    ('.item()) + 1',
     '.item())'),
]
