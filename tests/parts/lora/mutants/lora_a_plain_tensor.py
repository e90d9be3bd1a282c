"""lora_A is stored as a plain tensor instead of an nn.Parameter, so it is neither trained nor seen by the optimizer."""

MODULE = "lora"
CAUGHT_BY = ["lora/init", "lora/gradients", "lora/apply_lora"]
PATCH = [
    ('self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **factory))',
     'self.lora_A = torch.empty(r, base.in_features, **factory)'),
]
