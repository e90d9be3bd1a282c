"""Dropout is applied to the output of the low-rank path, scaling * B A x, instead of to its input x."""

MODULE = "lora"
CAUGHT_BY = ["lora/dropout"]
PATCH = [
    ('low_rank = self.dropout(x) @ self.lora_A.T @ self.lora_B.T',
     'low_rank = x @ self.lora_A.T @ self.lora_B.T'),
    ('return result + self.scaling * low_rank',
     'return result + self.dropout(self.scaling * low_rank)'),
]
