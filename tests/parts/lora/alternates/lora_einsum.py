"""A LoRA layer written with einsum and an explicit parameter list, merging by rebuilding the weight
from a saved copy; apply_lora walks the tree itself instead of using named_modules()."""

from __future__ import annotations

import math

import torch
from torch import nn

ALTERNATE_FOR = "lora"


class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__()
        if r < 1 or alpha <= 0 or dropout < 0 or dropout >= 1:
            raise ValueError("r >= 1, alpha > 0 and 0 <= dropout < 1 are required")
        self.base = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.zeros(r, base.in_features, dtype=base.weight.dtype, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r
        self.drop = nn.Dropout(p=dropout)
        self.merged = False
        self._original = None

    def forward(self, x):
        out = self.base(x)
        if not self.merged:
            h = torch.einsum("...i,ri->...r", self.drop(x), self.lora_A)
            out = out + self.scaling * torch.einsum("...r,or->...o", h, self.lora_B)
        return out

    def delta_weight(self):
        return torch.einsum("or,ri->oi", self.lora_B, self.lora_A) * self.scaling

    def merge(self):
        if self.merged:
            raise RuntimeError("already merged")
        self._original = self.base.weight.detach().clone()
        with torch.no_grad():
            self.base.weight.copy_(self._original + self.delta_weight())
        self.merged = True

    def unmerge(self):
        if not self.merged:
            raise RuntimeError("not merged")
        with torch.no_grad():
            self.base.weight.copy_(self._original)
        self._original, self.merged = None, False


def _walk(module, prefix=""):
    for name, child in list(module.named_children()):
        qualified = f"{prefix}.{name}" if prefix else name
        yield module, name, qualified, child
        yield from _walk(child, qualified)


def apply_lora(model, target_modules, r, alpha, dropout=0.0):
    hits = [(parent, name) for parent, name, qualified, child in _walk(model)
            if type(child) is nn.Linear and any(qualified.split(".")[-len(t.split(".")):] == t.split(".")
                                                 for t in target_modules)]
    if not hits:
        raise ValueError("apply_lora: no module matched")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parent, name in hits:
        setattr(parent, name, LoRALinear(getattr(parent, name), r, alpha, dropout))
    return model


def _layers(model):
    return [(qualified, child) for _, _, qualified, child in _walk(model) if isinstance(child, LoRALinear)]


def lora_state_dict(model):
    return {f"{q}.{n}": getattr(m, n).detach().clone() for q, m in _layers(model) for n in ("lora_A", "lora_B")}


def load_lora_state_dict(model, sd):
    targets = {f"{q}.{n}": getattr(m, n) for q, m in _layers(model) for n in ("lora_A", "lora_B")}
    if set(targets) != set(sd):
        raise KeyError(f"keys differ: {sorted(set(targets) ^ set(sd))}")
    with torch.no_grad():
        for key, parameter in targets.items():
            parameter.copy_(sd[key])


def merge_lora(model):
    for _, layer in _layers(model):
        if not layer.merged:
            layer.merge()
    return model


def unmerge_lora(model):
    for _, layer in _layers(model):
        if layer.merged:
            layer.unmerge()
    return model


def count_parameters(model):
    numbers = [(p.numel(), p.requires_grad) for p in model.parameters()]
    return sum(n for n, trainable in numbers if trainable), sum(n for n, _ in numbers)


def lora_parameter_count(in_features, out_features, r):
    return r * in_features + out_features * r
