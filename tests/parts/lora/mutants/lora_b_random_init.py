"""lora_B is initialised Kaiming-uniform like lora_A instead of zeros, so a fresh layer already changes the output."""

MODULE = "lora"
CAUGHT_BY = ["lora/zero_init", "lora/apply_lora"]
PATCH = [
    ('self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **factory))',
     'self.lora_B = nn.Parameter(torch.empty(base.out_features, r, **factory))'),
    ('nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))',
     'nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))\n'
     '        nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))'),
]
