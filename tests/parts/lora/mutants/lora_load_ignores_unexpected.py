"""load_lora_state_dict silently ignores missing and unexpected keys."""

MODULE = "lora"
CAUGHT_BY = ["lora/state_dict"]
PATCH = [
    ('    if missing or unexpected:\n        raise KeyError(f"LoRA state dict does not match the model: missing {missing}, unexpected {unexpected}")\n',
     ''),
]
