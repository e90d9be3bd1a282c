"""lora_parameter_count returns r * in_features * out_features instead of r * (in_features + out_features)."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('return r * (in_features + out_features)',
     'return r * in_features * out_features'),
]
