"""delta_weight returns A.T @ B.T, the [in, out] transpose of the update, instead of B @ A."""

MODULE = "lora"
CAUGHT_BY = ["lora/merge"]
PATCH = [
    ('return self.scaling * (self.lora_B @ self.lora_A)',
     'return self.scaling * (self.lora_A.T @ self.lora_B.T)'),
]
