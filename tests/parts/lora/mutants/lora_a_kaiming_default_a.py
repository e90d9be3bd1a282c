"""lora_A uses nn.init.kaiming_uniform_ with the default a = 0 instead of a = sqrt(5), a bound sqrt(6) times too large."""

MODULE = "lora"
CAUGHT_BY = ["lora/init"]
PATCH = [
    ('nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))', 'nn.init.kaiming_uniform_(self.lora_A)'),
]
