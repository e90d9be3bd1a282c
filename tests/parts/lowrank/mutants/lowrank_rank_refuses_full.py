"""The rank check uses r < min(d, k), so the full rank r = min(d, k) is wrongly refused."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/invalid_rank"]
PATCH = [
    ('if not 1 <= r <= min(d, k):',
     'if not 1 <= r < min(d, k):'),
]
