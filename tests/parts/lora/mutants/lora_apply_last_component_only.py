"""apply_lora compares targets with the last name component only, so a dotted target like mlp.up_proj never matches."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('return any(name == target or name.endswith("." + target) for target in target_modules)',
     'return name.rpartition(".")[2] in target_modules'),
]
