"""Public tests for part 4 (a LoRA layer from scratch). The grader's hidden checks use other inputs."""

import pytest
import torch
from torch import nn

from lora_lab.lora import (LoRALinear, apply_lora, count_parameters, load_lora_state_dict, lora_parameter_count,
                           lora_state_dict, merge_lora, unmerge_lora)


def make_layer(r=2, alpha=8.0, dropout=0.0):
    torch.manual_seed(0)
    return LoRALinear(nn.Linear(6, 4), r=r, alpha=alpha, dropout=dropout)


def test_shapes_scaling_and_frozen_base():
    layer = make_layer()
    assert layer.lora_A.shape == (2, 6) and layer.lora_B.shape == (4, 2)
    assert layer.scaling == 4.0
    assert not layer.base.weight.requires_grad and not layer.base.bias.requires_grad
    assert layer.lora_A.requires_grad and layer.lora_B.requires_grad


def test_a_fresh_layer_equals_its_base():
    layer = make_layer()
    x = torch.randn(3, 6)
    assert torch.allclose(layer(x), layer.base(x))


def test_forward_with_known_factors_and_any_leading_shape():
    layer = make_layer(r=1, alpha=2.0)
    with torch.no_grad():
        layer.lora_A.fill_(1.0)
        layer.lora_B.fill_(0.5)
    x = torch.ones(2, 3, 6)
    expected = layer.base(x) + 2.0 * 0.5 * 6.0  # scaling * B (A x) = 2 * 0.5 * 6 in every output
    assert torch.allclose(layer(x), expected)


def test_invalid_arguments():
    for kwargs in ({"r": 0, "alpha": 1.0}, {"r": 2, "alpha": 0.0}, {"r": 2, "alpha": 1.0, "dropout": 1.0}):
        with pytest.raises(ValueError):
            LoRALinear(nn.Linear(3, 3), **kwargs)


def test_merge_and_unmerge_round_trip():
    layer = make_layer()
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(5, 6)
    original, before = layer.base.weight.clone(), layer(x)
    assert layer.delta_weight().shape == (4, 6)
    layer.merge()
    assert layer.merged and torch.allclose(layer(x), before, atol=1e-5)
    layer.unmerge()
    assert not layer.merged and torch.allclose(layer.base.weight, original, atol=1e-6)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.v_proj, self.out = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.q_proj(x) + self.v_proj(x))


def test_apply_lora_counts_and_state_dict():
    torch.manual_seed(0)
    model = apply_lora(Tiny(), ["q_proj", "v_proj"], r=2, alpha=4.0)
    assert isinstance(model.q_proj, LoRALinear) and isinstance(model.out, nn.Linear)
    trainable, total = count_parameters(model)
    assert trainable == 2 * lora_parameter_count(8, 8, 2) == 64
    assert total == (64 + 8) + (64 + 8) + (16 + 2) + 64  # three linear layers plus the LoRA factors
    state = lora_state_dict(model)
    assert len(state) == 4 and all("lora_" in key for key in state)
    load_lora_state_dict(model, state)
    merge_lora(model)
    unmerge_lora(model)
    with pytest.raises(ValueError):
        apply_lora(Tiny(), ["nothing_here"], r=2, alpha=4.0)
