"""A linear layer on lists, weights kept as in_features x out_features."""

import math
import random

import torch

from .matmul import add_bias, matrix_multiply


class ManualLinear:
    def __init__(self, in_features, out_features, bias=True, seed=None):
        generator = random.Random(seed)
        limit = math.sqrt(1.0 / in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = []
        for _ in range(in_features):
            self.weight.append([generator.uniform(-limit, limit) for _ in range(out_features)])
        self.bias = None
        if bias:
            self.bias = [generator.uniform(-limit, limit) for _ in range(out_features)]

    def forward(self, x):
        is_vector = not isinstance(x[0], (list, tuple))
        rows = [list(x)] if is_vector else [list(r) for r in x]
        for r in rows:
            if len(r) != self.in_features:
                raise ValueError("input size %d, layer expects %d" % (len(r), self.in_features))
        y = matrix_multiply(rows, self.weight)
        if self.bias is not None:
            y = add_bias(y, self.bias)
        if is_vector:
            return y[0]
        return y

    __call__ = forward

    def __repr__(self):
        return "ManualLinear(in_features=%d, out_features=%d, bias=%s)" % (
            self.in_features, self.out_features, self.bias is not None)

    @classmethod
    def from_torch(cls, module):
        has_bias = module.bias is not None
        new = cls(module.in_features, module.out_features, bias=has_bias)
        w = module.weight.detach().tolist()
        new.weight = [[w[o][i] for o in range(module.out_features)] for i in range(module.in_features)]
        new.bias = module.bias.detach().tolist() if has_bias else None
        return new

    def to_torch(self):
        module = torch.nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        weight = torch.tensor(self.weight, dtype=torch.float32).t().contiguous()
        module.weight.data = weight
        if self.bias is not None:
            module.bias.data = torch.tensor(self.bias, dtype=torch.float32)
        return module
