"""The scaling is computed with floor division, alpha // r, which truncates (2 // 8 = 0)."""

MODULE = "lora"
CAUGHT_BY = ["lora/scaling"]
PATCH = [
    ('self.scaling = alpha / r', 'self.scaling = alpha // r'),
]
