"""forward forms the full [out, in] matrix B @ A, x @ (B @ A).T, instead of going through the rank-r bottleneck."""

MODULE = "lora"
CAUGHT_BY = ["lora/no_materialise"]
PATCH = [
    ('low_rank = self.dropout(x) @ self.lora_A.T @ self.lora_B.T',
     'low_rank = self.dropout(x) @ (self.lora_B @ self.lora_A).T'),
]
