"""apply_lora returns the model unchanged instead of raising ValueError when no module matches target_modules."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('    if not targets:\n        raise ValueError(f"no nn.Linear in the model matches target_modules={list(target_modules)}")\n',
     ''),
]
