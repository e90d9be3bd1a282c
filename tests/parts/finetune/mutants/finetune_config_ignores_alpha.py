"""make_lora_config never passes alpha to LoraConfig, so PEFT's default lora_alpha=8 is used whatever alpha is asked for."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/lora_config"]
PATCH = [
    ("    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,",
     "    return LoraConfig(r=r, lora_dropout=dropout,"),
]
