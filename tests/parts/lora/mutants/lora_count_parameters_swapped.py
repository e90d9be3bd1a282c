"""count_parameters returns (total, trainable) instead of (trainable, total)."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)',
     'return sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad)'),
]
