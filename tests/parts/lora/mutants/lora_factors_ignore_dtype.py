"""lora_A and lora_B are created with the default dtype and device, not those of the base weight."""

MODULE = "lora"
CAUGHT_BY = ["lora/forward"]
PATCH = [
    ('factory = {"device": base.weight.device, "dtype": base.weight.dtype}', 'factory = {}'),
]
