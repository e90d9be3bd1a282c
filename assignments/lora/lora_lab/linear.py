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
        raise NotImplementedError('TODO: draw weight (in_features rows of out_features) and bias uniformly in +-1/sqrt(in_features)')

    def forward(self, x: list[float] | list[list[float]]) -> list[float] | list[list[float]]:
        """Apply the layer to one vector (returns a vector) or a batch of vectors (returns a batch)."""
        # TODO: y[j] = sum over i of x[i] * W[i][j] (+ b[j]); a single vector is a batch of one
        raise NotImplementedError('TODO: y[j] = sum over i of x[i] * W[i][j] (+ b[j]); a single vector is a batch of one')

    def __call__(self, x: list[float] | list[list[float]]) -> list[float] | list[list[float]]:
        return self.forward(x)

    def __repr__(self) -> str:
        # TODO: return e.g. "ManualLinear(in_features=6, out_features=4, bias=True)"
        raise NotImplementedError('TODO: return e.g. "ManualLinear(in_features=6, out_features=4, bias=True)"')

    @classmethod
    def from_torch(cls, linear: torch.nn.Linear) -> "ManualLinear":
        """A ``ManualLinear`` computing exactly what ``linear`` computes."""
        # TODO: copy linear's weight (mind the transpose: torch stores [out, in]) and bias
        raise NotImplementedError("TODO: copy linear's weight (mind the transpose: torch stores [out, in]) and bias")

    def to_torch(self) -> torch.nn.Linear:
        """A ``torch.nn.Linear`` computing exactly what this layer computes."""
        # TODO: build a torch.nn.Linear and copy the transposed weight and the bias into it
        raise NotImplementedError('TODO: build a torch.nn.Linear and copy the transposed weight and the bias into it')
