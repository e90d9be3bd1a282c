"""apply_lora does setattr(model, qualified_name, LoRALinear(...)) on the root, adding a new module instead of replacing the old."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora", "lora/state_dict"]
PATCH = [
    ('setattr(parent, child, LoRALinear(module, r, alpha, dropout))',
     'setattr(model, name, LoRALinear(module, r, alpha, dropout))'),
]
