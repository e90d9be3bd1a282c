"""The rank check only rejects negative r, so r = 0 is accepted and returns empty factors."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/invalid_rank"]
PATCH = [
    ('if not 1 <= r <= min(d, k):',
     'if r < 0 or r > min(d, k):'),
]
