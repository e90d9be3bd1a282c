"""Part 4 - a LoRA layer from scratch.

LoRA (Hu et al., 2021) freezes a pretrained weight ``W0`` and learns a low-rank update ``B A``:

    h = W0 x + (alpha / r) * B A x,    A: [r, in_features],  B: [out_features, r]

``A`` starts random (Kaiming-uniform, like PEFT and the paper's code) and ``B`` starts at zero, so a
fresh LoRA layer computes exactly what the frozen layer did, and only ``r * (in + out)`` numbers train.
The implementation trick: compute ``B (A x)`` through the rank-r bottleneck; never form the
``[out, in]`` matrix ``B @ A`` in the forward pass (that would cost as much as the weight itself).
For inference the update can be merged into ``W0`` (then the layer is a plain linear again) and
unmerged to switch adapters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable rank-``r`` update ``(alpha / r) * B A``.

    Args:
        base: the pretrained layer; its weight and bias are frozen (``requires_grad = False``).
        r: rank of the update, at least 1.
        alpha: scaling numerator, greater than 0; the update is multiplied by ``alpha / r``.
        dropout: probability in [0, 1) of dropping inputs of the low-rank path (never of the base path);
            active only in ``train()`` mode.

    Attributes:
        base, lora_A (``[r, in_features]``), lora_B (``[out_features, r]``), scaling (``alpha / r``),
        merged (whether the update is currently folded into ``base.weight``).

    ``merge()`` on a merged layer and ``unmerge()`` on an unmerged one do nothing (they are idempotent),
    so the update can never be added or removed twice.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        # TODO: check r, alpha, dropout (ValueError); freeze base; lora_A Kaiming-uniform(a=sqrt(5)), lora_B zeros
        # BEGIN SOLUTION
        if not isinstance(r, int) or r < 1:
            raise ValueError(f"r must be an integer >= 1, got {r!r}")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.base = base
        for parameter in base.parameters():
            parameter.requires_grad = False
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.r = r
        self.alpha = alpha
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``base(x) + scaling * B(A(dropout(x)))`` for ``x`` of shape ``[..., in_features]``."""
        # TODO: the base output plus the scaled low-rank path, through the rank-r bottleneck (never B @ A)
        # BEGIN SOLUTION
        result = self.base(x)
        if self.merged:
            return result
        # x -> [..., r]: the rank-r bottleneck. Scaling this small tensor is cheaper than scaling the output.
        bottleneck = F.linear(self.dropout(x), self.lora_A) * self.scaling
        # result + bottleneck @ B.T as one fused multiply-add on 2-D views: no extra [..., out] tensor.
        # (F.linear for A and B.T for B also give the backward pass its fast matrix layouts on CPU.)
        fused = torch.addmm(result.reshape(-1, result.shape[-1]), bottleneck.reshape(-1, bottleneck.shape[-1]),
                            self.lora_B.T)
        return fused.view(result.shape)
        # END SOLUTION

    def delta_weight(self) -> torch.Tensor:
        """The update ``scaling * B @ A`` as an ``[out_features, in_features]`` tensor."""
        # TODO: scaling times B @ A
        # BEGIN SOLUTION
        return self.scaling * (self.lora_B @ self.lora_A)
        # END SOLUTION

    def merge(self) -> None:
        """Fold the update into ``base.weight``; afterwards the forward pass is a plain linear."""
        # TODO: add delta_weight() to the base weight (without tracking gradients) unless already merged
        # BEGIN SOLUTION
        if self.merged:
            return
        with torch.no_grad():
            self.base.weight += self.delta_weight()
        self.merged = True
        # END SOLUTION

    def unmerge(self) -> None:
        """Restore the original ``base.weight`` after :meth:`merge`."""
        # TODO: subtract delta_weight() from the base weight unless not merged
        # BEGIN SOLUTION
        if not self.merged:
            return
        with torch.no_grad():
            self.base.weight -= self.delta_weight()
        self.merged = False
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"r={self.lora_A.shape[0]}, scaling={self.scaling:g}, merged={self.merged}"


def _matches(name: str, target_modules: tuple[str, ...] | list[str]) -> bool:
    return any(name == target or name.endswith("." + target) for target in target_modules)


def apply_lora(model: nn.Module, target_modules: tuple[str, ...] | list[str], r: int, alpha: float,
               dropout: float = 0.0) -> nn.Module:
    """Replace every ``nn.Linear`` whose qualified name (from ``model.named_modules()``) equals a target
    of ``target_modules`` or ends with ``"."`` + a target, as PEFT matches them (``"q_proj"`` matches
    ``layers.0.attn.q_proj``, ``"up_proj"`` does not match ``layers.0.mlp.gate_up_proj``), by a
    :class:`LoRALinear`, freeze every other parameter, and return ``model``. ``ValueError`` when no
    module matched."""
    # TODO: find the matching nn.Linear modules, swap each for a LoRALinear in its parent, freeze the rest
    # BEGIN SOLUTION
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and _matches(name, target_modules)]
    if not targets:
        raise ValueError(f"no nn.Linear in the model matches target_modules={list(target_modules)}")
    for parameter in model.parameters():
        parameter.requires_grad = False
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r, alpha, dropout))
    return model
    # END SOLUTION


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every :class:`LoRALinear` in ``model`` by qualified name."""
    return {name: module for name, module in model.named_modules() if isinstance(module, LoRALinear)}


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA tensors (``<module>.lora_A`` and ``<module>.lora_B``), detached copies."""
    # TODO: collect lora_A and lora_B of every LoRALinear, keyed by "<qualified name>.lora_A" / ".lora_B"
    # BEGIN SOLUTION
    state = {}
    for name, layer in lora_layers(model).items():
        state[f"{name}.lora_A"] = layer.lora_A.detach().clone()
        state[f"{name}.lora_B"] = layer.lora_B.detach().clone()
    return state
    # END SOLUTION


def load_lora_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy the tensors of :func:`lora_state_dict` into ``model``'s LoRA layers.

    ``KeyError`` names missing or unexpected keys; ``ValueError`` a tensor of the wrong shape.
    """
    # TODO: check the keys match exactly, then copy each tensor into its parameter
    # BEGIN SOLUTION
    expected = {f"{name}.{part}": getattr(layer, part)
                for name, layer in lora_layers(model).items() for part in ("lora_A", "lora_B")}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise KeyError(f"LoRA state dict does not match the model: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for key, parameter in expected.items():
            if state[key].shape != parameter.shape:
                raise ValueError(f"{key}: shape {list(state[key].shape)}, expected {list(parameter.shape)}")
            parameter.copy_(state[key])
    # END SOLUTION


def merge_lora(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer of ``model``; returns ``model``."""
    # TODO: call merge() on every LoRALinear
    # BEGIN SOLUTION
    for layer in lora_layers(model).values():
        layer.merge()
    return model
    # END SOLUTION


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Unmerge every LoRA layer of ``model``; returns ``model``."""
    # TODO: call unmerge() on every LoRALinear
    # BEGIN SOLUTION
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model
    # END SOLUTION


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameters of ``model``."""
    # TODO: sum numel() over parameters, trainable ones (requires_grad) and all
    # BEGIN SOLUTION
    parameters = list(model.parameters())
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)
    # END SOLUTION


def lora_parameter_count(in_features: int, out_features: int, r: int) -> int:
    """Trainable numbers a rank-``r`` LoRA adds to an ``in_features -> out_features`` linear layer."""
    # TODO: the sizes of A and B
    # BEGIN SOLUTION
    return r * (in_features + out_features)
    # END SOLUTION
