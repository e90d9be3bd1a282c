"""merge and unmerge add and subtract B @ A without the alpha / r scaling."""

MODULE = "lora"
CAUGHT_BY = ["lora/merge"]
PATCH = [
    ('self.base.weight += self.delta_weight()',
     'self.base.weight += self.lora_B @ self.lora_A'),
    ('self.base.weight -= self.delta_weight()',
     'self.base.weight -= self.lora_B @ self.lora_A'),
]
