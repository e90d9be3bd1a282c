"""The update is scaled by alpha alone, forgetting the division by r."""

MODULE = "lora"
CAUGHT_BY = ["lora/init", "lora/forward", "lora/scaling", "lora/gradients", "lora/merge", "lora/dropout"]
PATCH = [
    ('self.scaling = alpha / r',
     'self.scaling = alpha'),
]
