import math
import random

import torch


class ManualLinear:
    """Layer kept as a list of input rows; batches handled by recursion on single vectors."""

    def __init__(self, in_features, out_features, bias=True, seed=None):
        self.in_features = in_features
        self.out_features = out_features
        r = random.Random(seed)
        s = 1 / math.sqrt(in_features)
        draw = lambda n: [r.uniform(-s, s) for _ in range(n)]
        self.weight = [draw(out_features) for _ in range(in_features)]
        self.bias = draw(out_features) if bias else None

    def _one(self, vector):
        if len(vector) != self.in_features:
            raise ValueError(f"need {self.in_features} inputs, got {len(vector)}")
        result = []
        for j in range(self.out_features):
            total = self.bias[j] if self.bias is not None else 0.0
            for i, value in enumerate(vector):
                total += value * self.weight[i][j]
            result.append(total)
        return result

    def forward(self, x):
        if x and isinstance(x[0], (list, tuple)):
            return [self._one(v) for v in x]
        return self._one(x)

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"ManualLinear(in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None})"

    @classmethod
    def from_torch(cls, layer):
        made = cls(layer.in_features, layer.out_features, bias=layer.bias is not None)
        made.weight = [list(column) for column in zip(*layer.weight.detach().tolist())]
        made.bias = None if layer.bias is None else list(layer.bias.detach().tolist())
        return made

    def to_torch(self):
        layer = torch.nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        state = {"weight": torch.tensor([list(c) for c in zip(*self.weight)])}
        if self.bias is not None:
            state["bias"] = torch.tensor(self.bias)
        layer.load_state_dict(state)
        return layer
