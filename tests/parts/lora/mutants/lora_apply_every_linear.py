"""apply_lora wraps every nn.Linear in the model, ignoring target_modules."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora", "lora/state_dict"]
PATCH = [
    ('if isinstance(module, nn.Linear) and _matches(name, target_modules)]',
     'if isinstance(module, nn.Linear)]'),
]
