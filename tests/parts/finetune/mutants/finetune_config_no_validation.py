"""make_lora_config validates nothing: r=0 or dropout=1.0 are passed straight to LoraConfig."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/lora_config"]
PATCH = [
    ('    if r < 1:\n        raise ValueError(f"r must be at least 1, got {r}")\n', ''),
    ('    if not 0 <= dropout < 1:\n        raise ValueError(f"dropout must be in [0, 1), got {dropout}")\n', ''),
]
