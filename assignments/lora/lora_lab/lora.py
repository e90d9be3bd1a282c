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
        raise NotImplementedError('TODO: check r, alpha, dropout (ValueError); freeze base; lora_A Kaiming-uniform(a=sqrt(5)), lora_B zeros')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``base(x) + scaling * B(A(dropout(x)))`` for ``x`` of shape ``[..., in_features]``."""
        # TODO: the base output plus the scaled low-rank path, through the rank-r bottleneck (never B @ A)
        raise NotImplementedError('TODO: the base output plus the scaled low-rank path, through the rank-r bottleneck (never B @ A)')

    def delta_weight(self) -> torch.Tensor:
        """The update ``scaling * B @ A`` as an ``[out_features, in_features]`` tensor."""
        # TODO: scaling times B @ A
        raise NotImplementedError('TODO: scaling times B @ A')

    def merge(self) -> None:
        """Fold the update into ``base.weight``; afterwards the forward pass is a plain linear."""
        # TODO: add delta_weight() to the base weight (without tracking gradients) unless already merged
        raise NotImplementedError('TODO: add delta_weight() to the base weight (without tracking gradients) unless already merged')

    def unmerge(self) -> None:
        """Restore the original ``base.weight`` after :meth:`merge`."""
        # TODO: subtract delta_weight() from the base weight unless not merged
        raise NotImplementedError('TODO: subtract delta_weight() from the base weight unless not merged')

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
    raise NotImplementedError('TODO: find the matching nn.Linear modules, swap each for a LoRALinear in its parent, freeze the rest')


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every :class:`LoRALinear` in ``model`` by qualified name."""
    return {name: module for name, module in model.named_modules() if isinstance(module, LoRALinear)}


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA tensors (``<module>.lora_A`` and ``<module>.lora_B``), detached copies."""
    # TODO: collect lora_A and lora_B of every LoRALinear, keyed by "<qualified name>.lora_A" / ".lora_B"
    raise NotImplementedError('TODO: collect lora_A and lora_B of every LoRALinear, keyed by "<qualified name>.lora_A" / ".lora_B"')


def load_lora_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy the tensors of :func:`lora_state_dict` into ``model``'s LoRA layers.

    ``KeyError`` names missing or unexpected keys; ``ValueError`` a tensor of the wrong shape.
    """
    # TODO: check the keys match exactly, then copy each tensor into its parameter
    raise NotImplementedError('TODO: check the keys match exactly, then copy each tensor into its parameter')


def merge_lora(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer of ``model``; returns ``model``."""
    # TODO: call merge() on every LoRALinear
    raise NotImplementedError('TODO: call merge() on every LoRALinear')


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Unmerge every LoRA layer of ``model``; returns ``model``."""
    # TODO: call unmerge() on every LoRALinear
    raise NotImplementedError('TODO: call unmerge() on every LoRALinear')


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameters of ``model``."""
    # TODO: sum numel() over parameters, trainable ones (requires_grad) and all
    raise NotImplementedError('TODO: sum numel() over parameters, trainable ones (requires_grad) and all')


def lora_parameter_count(in_features: int, out_features: int, r: int) -> int:
    """Trainable numbers a rank-``r`` LoRA adds to an ``in_features -> out_features`` linear layer."""
    # TODO: the sizes of A and B
    raise NotImplementedError('TODO: the sizes of A and B')
