"""ManualLinear built, as the lecture suggests, from part 1's matrix_multiply and add_bias, with weights
drawn through a list comprehension over a seeded random.Random."""

from __future__ import annotations

import math
import random

import torch

from .matmul import add_bias, matrix_multiply

ALTERNATE_FOR = "linear"


class ManualLinear:
    def __init__(self, in_features, out_features, bias=True, seed=None):
        self.in_features, self.out_features = in_features, out_features
        rng = random.Random(seed)
        k = 1 / math.sqrt(in_features)
        self.weight = [[rng.uniform(-k, k) for _ in range(out_features)] for _ in range(in_features)]
        self.bias = [rng.uniform(-k, k) for _ in range(out_features)] if bias else None

    def forward(self, x):
        batch = x if isinstance(x[0], list) else [x]
        y = matrix_multiply(batch, self.weight)
        if self.bias is not None:
            y = add_bias(y, self.bias)
        return y if isinstance(x[0], list) else y[0]

    __call__ = forward

    def __repr__(self):
        return f"ManualLinear(in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None})"

    @classmethod
    def from_torch(cls, linear):
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        weight = linear.weight.detach().tolist()  # [out][in]
        layer.weight = [[weight[o][i] for o in range(linear.out_features)] for i in range(linear.in_features)]
        layer.bias = linear.bias.detach().tolist() if linear.bias is not None else None
        return layer

    def to_torch(self):
        linear = torch.nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([list(column) for column in zip(*self.weight)]))
            if self.bias is not None:
                linear.bias.copy_(torch.tensor(self.bias))
        return linear
