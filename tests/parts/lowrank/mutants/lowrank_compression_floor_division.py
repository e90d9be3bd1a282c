"""compression_ratio uses integer division //, truncating ratios such as 38.4 to 38."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/compression_ratio"]
PATCH = [
    ('return d * k / (r * (d + k))',
     'return d * k // (r * (d + k))'),
]
