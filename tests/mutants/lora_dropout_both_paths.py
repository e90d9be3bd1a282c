"""Dropout is applied to x before both paths, so the frozen base layer also sees dropped inputs, base(dropout(x))."""

MODULE = "lora"
CAUGHT_BY = ["lora/dropout"]
PATCH = [
    ('        result = self.base(x)\n        if self.merged:',
     '        x = self.dropout(x)\n        result = self.base(x)\n        if self.merged:'),
    ('low_rank = self.dropout(x) @ self.lora_A.T @ self.lora_B.T',
     'low_rank = x @ self.lora_A.T @ self.lora_B.T'),
]
