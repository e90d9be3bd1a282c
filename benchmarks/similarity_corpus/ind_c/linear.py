import math
import random

import torch

from lora_lab import matmul


class ManualLinear:
    def __init__(self, in_features, out_features, bias=True, seed=None):
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        rand = random.Random(seed)
        k = 1.0 / math.sqrt(self.in_features)
        self.weight = [[(rand.random() * 2 - 1) * k for j in range(self.out_features)]
                       for i in range(self.in_features)]
        self.bias = [(rand.random() * 2 - 1) * k for j in range(self.out_features)] if bias else None

    def forward(self, x):
        single = isinstance(x[0], (int, float))
        batch = [x] if single else x
        if {len(v) for v in batch} != {self.in_features}:
            raise ValueError("wrong input width")
        y = matmul.matrix_multiply([list(v) for v in batch], self.weight)
        y = matmul.add_bias(y, self.bias or [0.0] * self.out_features)
        return y[0] if single else y

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return "ManualLinear(in_features={}, out_features={}, bias={})".format(
            self.in_features, self.out_features, self.bias is not None)

    @classmethod
    def from_torch(cls, torch_linear):
        me = cls(torch_linear.in_features, torch_linear.out_features, torch_linear.bias is not None)
        me.weight = torch_linear.weight.detach().transpose(0, 1).tolist()
        if torch_linear.bias is not None:
            me.bias = torch_linear.bias.detach().tolist()
        return me

    def to_torch(self):
        out = torch.nn.Linear(self.in_features, self.out_features, self.bias is not None)
        out.weight = torch.nn.Parameter(torch.tensor(self.weight).transpose(0, 1).contiguous())
        if self.bias is not None:
            out.bias = torch.nn.Parameter(torch.tensor(self.bias))
        return out
