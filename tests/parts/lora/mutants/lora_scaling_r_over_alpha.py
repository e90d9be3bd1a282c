"""The scaling is inverted, r / alpha instead of alpha / r."""

MODULE = "lora"
CAUGHT_BY = ["lora/init", "lora/forward", "lora/scaling", "lora/gradients", "lora/merge", "lora/dropout"]
PATCH = [
    ('self.scaling = alpha / r',
     'self.scaling = r / alpha'),
]
