"""Probes for ``ManualLinear`` (part ``linear``)."""

from __future__ import annotations

from typing import Any

from ...runtime.probes import ITEMS, VALUE, returns


@returns({"weight": VALUE, "bias": VALUE, "repr": VALUE})
def construct(module: Any, in_features: int, out_features: int, bias: bool = True, seed: int | None = None) -> dict:
    """Build a layer; report its weight, bias and repr."""
    layer = module.ManualLinear(in_features, out_features, bias=bias, seed=seed)
    return {"weight": layer.weight, "bias": layer.bias, "repr": repr(layer)}


def _layer_with(module: Any, weight: list, bias: list | None) -> Any:
    layer = module.ManualLinear(len(weight), len(weight[0]), bias=bias is not None, seed=0)
    layer.weight = [list(row) for row in weight]
    layer.bias = None if bias is None else list(bias)
    return layer


@returns({"forward": ITEMS, "call": ITEMS})
def forward(module: Any, weight: list, bias: list | None, inputs: list) -> dict:
    """Set the given weight and bias, then report ``forward(x)`` and ``layer(x)`` for each input."""
    layer = _layer_with(module, weight, bias)
    return {"forward": [layer.forward(x) for x in inputs], "call": [layer(x) for x in inputs]}


@returns({"type": str, "weight": VALUE, "bias": VALUE, "outputs": ITEMS})
def from_torch(module: Any, weight: Any, bias: Any, inputs: list) -> dict:
    """Convert a ``torch.nn.Linear`` holding ``weight`` [out, in] and ``bias``; report the result."""
    import torch

    out_features, in_features = weight.shape
    linear = torch.nn.Linear(in_features, out_features, bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)
    layer = module.ManualLinear.from_torch(linear)
    return {"type": type(layer).__name__, "weight": layer.weight, "bias": layer.bias,
            "outputs": [layer(x) for x in inputs]}


@returns({"type": str, "weight": VALUE, "bias": VALUE, "outputs": VALUE})
def to_torch(module: Any, weight: list, bias: list | None, inputs: list) -> dict:
    """Convert a layer holding ``weight`` and ``bias`` to torch; report the module and its outputs (``None``
    for what a module that is not an ``nn.Linear`` cannot give)."""
    import torch

    converted = _layer_with(module, weight, bias).to_torch()
    if not isinstance(converted, torch.nn.Linear):
        return {"type": type(converted).__name__, "weight": None, "bias": None, "outputs": None}
    with torch.no_grad():
        outputs = converted(torch.tensor(inputs, dtype=converted.weight.dtype))
    return {"type": "Linear", "weight": converted.weight, "bias": converted.bias, "outputs": outputs}
