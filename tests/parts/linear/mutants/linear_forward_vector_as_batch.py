"""forward on a single vector returns a batch of one ([[...]]) instead of a plain vector."""

MODULE = "linear"
CAUGHT_BY = ["linear/forward", "linear/from_torch"]
PATCH = [
    ('return out[0] if single else out',
     'return out'),
]
