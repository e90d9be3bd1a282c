"""compression_ratio is upside down: factor parameters over full-matrix parameters, r*(d+k) / (d*k)."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/compression_ratio"]
PATCH = [
    ('return d * k / (r * (d + k))',
     'return r * (d + k) / (d * k)'),
]
