"""lora_A is drawn from torch.randn (standard normal) instead of Kaiming-uniform with bound 1 / sqrt(in_features)."""

MODULE = "lora"
CAUGHT_BY = ["lora/init"]
PATCH = [
    ('self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **factory))',
     'self.lora_A = nn.Parameter(torch.randn(r, base.in_features, **factory))'),
    ('        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))\n',
     ''),
]
