"""forward adds B A x without multiplying it by the scaling (delta_weight still scales)."""

MODULE = "lora"
CAUGHT_BY = ["lora/forward", "lora/scaling", "lora/gradients", "lora/merge", "lora/dropout"]
PATCH = [
    ('return result + self.scaling * low_rank',
     'return result + low_rank'),
]
