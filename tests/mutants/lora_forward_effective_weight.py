"""forward runs a plain linear with the effective weight W0 + delta_weight(), forming the [out, in] matrix each call."""

MODULE = "lora"
CAUGHT_BY = ["lora/no_materialise", "lora/dropout"]
PATCH = [
    ('        low_rank = self.dropout(x) @ self.lora_A.T @ self.lora_B.T\n        return result + self.scaling * low_rank\n',
     '        return nn.functional.linear(x, self.base.weight + self.delta_weight(), self.base.bias)\n'),
]
