"""apply_lora matches a target anywhere in the qualified name (target in name) instead of as its last components."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('return any(name == target or name.endswith("." + target) for target in target_modules)',
     'return any(target in name for target in target_modules)'),
]
