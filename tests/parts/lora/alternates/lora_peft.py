"""An alternate lora.py that delegates the layer to PEFT's own ``peft.tuners.lora.Linear``.

It is written independently of the reference (PEFT names its factors ``lora_A["default"].weight``,
keeps the base as ``base_layer`` and merges with its own code), so full marks for it show that the
hidden checks accept any correct implementation, not only the reference's quirks.
"""

from __future__ import annotations

import torch
from peft import LoraConfig
from peft.tuners.lora import Linear as PeftLoraLinear
from torch import nn

ALTERNATE_FOR = "lora"
ADAPTER = "default"


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if r < 1 or alpha <= 0 or not 0 <= dropout < 1:
            raise ValueError(f"invalid LoRA settings r={r}, alpha={alpha}, dropout={dropout}")
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout)
        self.peft = PeftLoraLinear(base, ADAPTER, config=config, r=r, lora_alpha=alpha, lora_dropout=dropout)
        base.requires_grad_(False)

    @property
    def base(self) -> nn.Linear:
        return self.peft.base_layer

    @property
    def lora_A(self) -> nn.Parameter:
        return self.peft.lora_A[ADAPTER].weight

    @property
    def lora_B(self) -> nn.Parameter:
        return self.peft.lora_B[ADAPTER].weight

    @property
    def scaling(self) -> float:
        return self.peft.scaling[ADAPTER]

    @property
    def merged(self) -> bool:
        return self.peft.merged

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.peft(x)

    def delta_weight(self) -> torch.Tensor:
        return self.peft.get_delta_weight(ADAPTER)

    def merge(self) -> None:
        if not self.merged:
            self.peft.merge()

    def unmerge(self) -> None:
        if self.merged:
            self.peft.unmerge()


def apply_lora(model: nn.Module, target_modules, r: int, alpha: float, dropout: float = 0.0) -> nn.Module:
    names = [name for name, module in model.named_modules()
             if isinstance(module, nn.Linear)
             and (name.split(".")[-1] in target_modules or any(name.endswith("." + t) for t in target_modules))]
    if not names:
        raise ValueError("no module matched")
    model.requires_grad_(False)
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent)
        setattr(owner, child, LoRALinear(getattr(owner, child), r, alpha, dropout))
    return model


def _layers(model: nn.Module):
    return [(name, module) for name, module in model.named_modules() if isinstance(module, LoRALinear)]


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value for key, value in model.state_dict().items() if ".lora_" in key}


def load_lora_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    unexpected = list(unexpected)
    if unexpected or any(".lora_" in key for key in missing):
        raise KeyError(f"state does not match: unexpected {unexpected}")


def merge_lora(model: nn.Module) -> nn.Module:
    for _, layer in _layers(model):
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    for _, layer in _layers(model):
        layer.unmerge()
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = total = 0
    for parameter in model.parameters():
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total


def lora_parameter_count(in_features: int, out_features: int, r: int) -> int:
    return in_features * r + r * out_features
