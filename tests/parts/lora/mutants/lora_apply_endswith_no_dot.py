"""apply_lora matches with name.endswith(target), without the dot, so "proj" style suffixes of other names match too."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('return any(name == target or name.endswith("." + target) for target in target_modules)',
     'return any(name.endswith(target) for target in target_modules)'),
]
