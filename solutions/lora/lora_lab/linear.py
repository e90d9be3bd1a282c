"""Part 2 - ``ManualLinear``: a linear layer made of Python lists that matches ``torch.nn.Linear``.

Convention: ``y = x @ W + b`` with ``W`` stored as ``in_features`` rows of ``out_features`` numbers.
This is part 1's ``add_bias(matrix_multiply(x, W), b)``. You may reuse those functions; the grader then
uses your part 1 here too, so a bug there would also cost points in this part.
``torch.nn.Linear`` stores its weight the other way round, as ``[out_features, in_features]``, and
computes ``x @ W.T + b``: converting between the two is a transpose.
"""

from __future__ import annotations

import math
import random

import torch


class ManualLinear:
    """A fully connected layer ``y = x @ W + b`` on Python lists.

    Args:
        in_features: size of each input vector.
        out_features: size of each output vector.
        bias: whether the layer has a bias (``self.bias`` is ``None`` otherwise).
        seed: seed of the random initialisation; the same seed gives the same weights,
            different seeds different weights.

    Attributes:
        weight: ``in_features`` lists of ``out_features`` floats, drawn uniformly from
            ``[-1/sqrt(in_features), 1/sqrt(in_features)]`` like ``torch.nn.Linear``.
        bias: ``out_features`` floats from the same distribution, or ``None``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, seed: int | None = None) -> None:
        self.in_features = in_features
        self.out_features = out_features
        # TODO: draw weight (in_features rows of out_features) and bias uniformly in +-1/sqrt(in_features)
        # BEGIN SOLUTION
        rng = random.Random(seed)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = [[rng.uniform(-bound, bound) for _ in range(out_features)] for _ in range(in_features)]
        self.bias = [rng.uniform(-bound, bound) for _ in range(out_features)] if bias else None
        # END SOLUTION

    def forward(self, x: list[float] | list[list[float]]) -> list[float] | list[list[float]]:
        """Apply the layer to one vector (returns a vector) or a batch of vectors (returns a batch)."""
        # TODO: y[j] = sum over i of x[i] * W[i][j] (+ b[j]); a single vector is a batch of one
        # BEGIN SOLUTION
        single = not isinstance(x[0], (list, tuple))
        batch = [x] if single else x
        if any(len(row) != self.in_features for row in batch):
            raise ValueError(f"expected vectors of {self.in_features} numbers")
        columns = list(zip(*self.weight))
        bias = self.bias if self.bias is not None else [0.0] * self.out_features
        out = [[sum(xi * wi for xi, wi in zip(row, column)) + b for column, b in zip(columns, bias)]
               for row in batch]
        return out[0] if single else out
        # END SOLUTION

    def __call__(self, x: list[float] | list[list[float]]) -> list[float] | list[list[float]]:
        return self.forward(x)

    def __repr__(self) -> str:
        # TODO: return e.g. "ManualLinear(in_features=6, out_features=4, bias=True)"
        # BEGIN SOLUTION
        return (f"ManualLinear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None})")
        # END SOLUTION

    @classmethod
    def from_torch(cls, linear: torch.nn.Linear) -> "ManualLinear":
        """A ``ManualLinear`` computing exactly what ``linear`` computes."""
        # TODO: copy linear's weight (mind the transpose: torch stores [out, in]) and bias
        # BEGIN SOLUTION
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        layer.weight = linear.weight.detach().T.tolist()
        layer.bias = None if linear.bias is None else linear.bias.detach().tolist()
        return layer
        # END SOLUTION

    def to_torch(self) -> torch.nn.Linear:
        """A ``torch.nn.Linear`` computing exactly what this layer computes."""
        # TODO: build a torch.nn.Linear and copy the transposed weight and the bias into it
        # BEGIN SOLUTION
        linear = torch.nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(self.weight, dtype=linear.weight.dtype).T)
            if self.bias is not None:
                linear.bias.copy_(torch.tensor(self.bias, dtype=linear.bias.dtype))
        return linear
        # END SOLUTION
