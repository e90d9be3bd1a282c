"""Dropout is applied to the whole layer output, base(x) + update, instead of to the low-rank input."""

MODULE = "lora"
CAUGHT_BY = ["lora/dropout"]
PATCH = [
    ('low_rank = self.dropout(x) @ self.lora_A.T @ self.lora_B.T',
     'low_rank = x @ self.lora_A.T @ self.lora_B.T'),
    ('return result + self.scaling * low_rank',
     'return self.dropout(result + self.scaling * low_rank)'),
]
