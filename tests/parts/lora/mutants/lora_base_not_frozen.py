"""LoRALinear never sets requires_grad = False on the base layer, so its weight and bias keep training."""

MODULE = "lora"
CAUGHT_BY = ["lora/gradients"]
PATCH = [
    ('        for parameter in base.parameters():\n            parameter.requires_grad = False\n',
     ''),
]
