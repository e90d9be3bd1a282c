"""Probes for part ``lora``: a LoRA layer on a given base, its gradients, merging, injection into a
small transformer-like model, its state dict, dropout, and the memory its forward pass needs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...runtime.common import await_inputs
from ...runtime.probes import ITEMS, VALUE, returns


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    out_features, in_features = weight.shape
    base = nn.Linear(in_features, out_features, bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        base.weight.copy_(weight)
        if bias is not None:
            base.bias.copy_(bias)
    return base


def _layer(module: Any, base: nn.Linear, r: int, alpha: float, A: torch.Tensor | None = None,
           B: torch.Tensor | None = None, dropout: float = 0.0) -> nn.Module:
    layer = module.LoRALinear(base, r, alpha, dropout)
    if A is not None:
        with torch.no_grad():
            layer.lora_A.copy_(A)
            layer.lora_B.copy_(B)
    return layer


@returns({"A": VALUE, "B": VALUE, "scaling": float, "output": VALUE, "base_output": VALUE,
          "A_is_parameter": bool, "B_is_parameter": bool,
          "requires_grad": {"base.weight": bool, "base.bias": (bool, None), "lora_A": bool, "lora_B": bool}})
def construct(module: Any, weight: torch.Tensor, bias: torch.Tensor | None, r: int, alpha: float,
              x: torch.Tensor, dropout: float = 0.0) -> dict:
    """A fresh layer: its factors, scaling, output against the base output, what is trainable."""
    base = _linear(weight, bias)
    layer = module.LoRALinear(base, r, alpha, dropout)
    with torch.no_grad():
        output, base_output = layer(x), base(x)
    return {
        "A": layer.lora_A, "B": layer.lora_B, "scaling": float(layer.scaling),
        "output": output, "base_output": base_output,
        "A_is_parameter": isinstance(layer.lora_A, nn.Parameter), "B_is_parameter": isinstance(layer.lora_B, nn.Parameter),
        "requires_grad": {"base.weight": base.weight.requires_grad,
                          "base.bias": None if base.bias is None else base.bias.requires_grad,
                          "lora_A": layer.lora_A.requires_grad, "lora_B": layer.lora_B.requires_grad},
    }


@returns({"outputs": ITEMS})
def forward(module: Any, weight: torch.Tensor, bias: torch.Tensor | None, r: int, alpha: float,
            A: torch.Tensor, B: torch.Tensor, inputs: list) -> dict:
    """Outputs of a layer with the given factors on inputs of several leading shapes."""
    layer = _layer(module, _linear(weight, bias), r, alpha, A, B)
    with torch.no_grad():
        return {"outputs": [layer(x) for x in inputs]}


@returns({"grad": {"base.weight": VALUE, "base.bias": VALUE, "lora_A": VALUE, "lora_B": VALUE},
          "trainable_numel": int, "trainable_tensors": int})
def gradients(module: Any, weight: torch.Tensor, bias: torch.Tensor | None, r: int, alpha: float,
              A: torch.Tensor, B: torch.Tensor, x: torch.Tensor, upstream: torch.Tensor) -> dict:
    """Gradients of ``sum(layer(x) * upstream)`` on every tensor involved."""
    base = _linear(weight, bias)
    layer = _layer(module, base, r, alpha, A, B)
    (layer(x) * upstream).sum().backward()
    trainable = [p for p in layer.parameters() if p.requires_grad]
    return {"grad": {"base.weight": base.weight.grad, "base.bias": base.bias.grad if base.bias is not None else None,
                     "lora_A": layer.lora_A.grad, "lora_B": layer.lora_B.grad},
            "trainable_numel": sum(p.numel() for p in trainable), "trainable_tensors": len(trainable)}


def _error_type(action) -> str | None:
    """The name of the exception ``action()`` raises, or ``None``."""
    try:
        action()
    except Exception as error:  # noqa: BLE001 - raising is an allowed answer; which one is reported
        return type(error).__name__
    return None


@returns({"output": VALUE, "delta": VALUE, "merged_before": bool, "merged_flag": bool, "merged_weight": VALUE,
          "merged_output": VALUE, "second_merge_error": (str, None), "weight_after_second_merge": VALUE,
          "unmerged_flag": bool, "restored_weight": VALUE, "unmerged_output": VALUE,
          "second_unmerge_error": (str, None), "weight_after_second_unmerge": VALUE})
def merging(module: Any, weight: torch.Tensor, bias: torch.Tensor | None, r: int, alpha: float,
            A: torch.Tensor, B: torch.Tensor, x: torch.Tensor) -> dict:
    """delta_weight, then merge (twice), then unmerge (twice), recording weights and outputs.

    merge() and unmerge() are called with autograd on, as a user would call them."""
    base = _linear(weight, bias)
    layer = _layer(module, base, r, alpha, A, B)

    def output() -> torch.Tensor:
        with torch.no_grad():
            return layer(x)

    report: dict = {"output": output(), "delta": layer.delta_weight(), "merged_before": bool(layer.merged)}
    layer.merge()
    report["merged_flag"] = bool(layer.merged)
    report["merged_weight"] = base.weight.detach().clone()
    report["merged_output"] = output()
    report["second_merge_error"] = _error_type(layer.merge)
    report["weight_after_second_merge"] = base.weight.detach().clone()
    layer.unmerge()
    report["unmerged_flag"] = bool(layer.merged)
    report["restored_weight"] = base.weight.detach().clone()
    report["unmerged_output"] = output()
    report["second_unmerge_error"] = _error_type(layer.unmerge)
    report["weight_after_second_unmerge"] = base.weight.detach().clone()
    return report


class TinyTransformer(nn.Module):
    """A transformer-like stack with the module names of Llama-family models."""

    def __init__(self, vocab: int = 50, dim: int = 16, layers: int = 2) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            block = nn.Module()
            block.self_attn = nn.Module()
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                setattr(block.self_attn, name, nn.Linear(dim, dim, bias=False))
            block.mlp = nn.Module()
            block.mlp.up_proj = nn.Linear(dim, 2 * dim)
            block.mlp.gate_up_proj = nn.Linear(dim, 2 * dim)  # "up_proj" is a suffix of its name, not a component
            block.mlp.down_proj = nn.Linear(2 * dim, dim)
            block.norm = nn.LayerNorm(dim)
            self.layers.append(block)
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed_tokens(ids)
        for block in self.layers:
            attn = block.self_attn
            q, k, v = attn.q_proj(h), attn.k_proj(h), attn.v_proj(h)
            weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
            h = h + attn.o_proj(weights @ v)
            mlp = block.mlp
            h = block.norm(h + mlp.down_proj(torch.relu(mlp.up_proj(h)) * torch.sigmoid(mlp.gate_up_proj(h))))
        return self.lm_head(h)


def _tiny(seed: int) -> TinyTransformer:
    torch.manual_seed(seed)
    return TinyTransformer()


def _fill_factors(module: Any, model: nn.Module, names: list[str], seed: int) -> None:
    """Give the LoRA layers at ``names`` seeded non-zero factors, reached through the model's own tree."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in names:
            layer = model.get_submodule(name)
            if not isinstance(layer, module.LoRALinear):
                raise TypeError(f"model.get_submodule({name!r}) is a {type(layer).__name__}, not a LoRALinear: the "
                                f"LoRA layer must replace the original module inside its parent")
            layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=generator))
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator))


@returns({"returned_model": bool, "adapted": [str], "linear_shapes": VALUE, "trainable_numel": int,
          "total_numel": int, "count_parameters": VALUE, "lora_parameter_count": VALUE, "before": VALUE,
          "after": VALUE, "updated": VALUE, "merged_flags": [bool], "merged_output": VALUE,
          "unmerged_flags": [bool], "unmerged_output": VALUE})
def inject(module: Any, seed: int, targets: list[str], r: int, alpha: float, ids: torch.Tensor) -> dict:
    """apply_lora on a TinyTransformer: which modules were adapted, what trains, what the counts say,
    and the output once the adapted layers get non-zero factors."""
    model = _tiny(seed)
    shapes = {name: [m.in_features, m.out_features] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    with torch.no_grad():
        before = model(ids)
    returned = module.apply_lora(model, targets, r, alpha)
    adapted = sorted(name for name, m in model.named_modules() if isinstance(m, module.LoRALinear))
    with torch.no_grad():
        after = model(ids)
    parameters = list(model.parameters())
    report = {
        "returned_model": returned is model, "adapted": adapted, "linear_shapes": shapes,
        "trainable_numel": sum(p.numel() for p in parameters if p.requires_grad),
        "total_numel": sum(p.numel() for p in parameters),
        "count_parameters": list(module.count_parameters(model)),
        "lora_parameter_count": {name: module.lora_parameter_count(*shapes[name], r) for name in adapted if name in shapes},
        "before": before, "after": after,
    }
    _fill_factors(module, model, adapted, seed)
    layers = [model.get_submodule(name) for name in adapted]
    with torch.no_grad():
        report["updated"] = model(ids)
        module.merge_lora(model)
        report["merged_flags"] = [bool(layer.merged) for layer in layers]
        report["merged_output"] = model(ids)
        module.unmerge_lora(model)
        report["unmerged_flags"] = [bool(layer.merged) for layer in layers]
        report["unmerged_output"] = model(ids)
    return report


@returns({"keys": int, "shapes": VALUE, "numel": int, "expected": VALUE, "loaded": VALUE,
          "missing_key_error": (str, None), "unexpected_key_error": (str, None)})
def state_round_trip(module: Any, seed: int, targets: list[str], r: int, alpha: float, ids: torch.Tensor) -> dict:
    """Save the LoRA state of a trained-looking model and load it into a fresh one; then try to load
    states with a missing and with an unexpected key."""
    def adapted_model() -> nn.Module:
        return module.apply_lora(_tiny(seed), targets, r, alpha)

    model = adapted_model()
    adapted = sorted(name for name, m in model.named_modules() if isinstance(m, module.LoRALinear))
    _fill_factors(module, model, adapted, seed)
    with torch.no_grad():
        expected = model(ids)
    state = module.lora_state_dict(model)
    fresh = adapted_model()
    module.load_lora_state_dict(fresh, state)
    with torch.no_grad():
        loaded = fresh(ids)
    keys = sorted(state)
    missing = {key: state[key] for key in keys[1:]}
    unexpected = {**state, "not_a_module.lora_A": state[keys[0]]}
    return {"keys": len(state), "shapes": sorted(list(t.shape) for t in state.values() if isinstance(t, torch.Tensor)),
            "numel": sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor)),
            "expected": expected, "loaded": loaded,
            "missing_key_error": _error_type(lambda: module.load_lora_state_dict(adapted_model(), missing)),
            "unexpected_key_error": _error_type(lambda: module.load_lora_state_dict(adapted_model(), unexpected))}


@returns({"train": ITEMS, "eval": ITEMS, "base_output": VALUE})
def dropout(module: Any, weight: torch.Tensor, bias: torch.Tensor | None, r: int, alpha: float, A: torch.Tensor,
            B: torch.Tensor, x: torch.Tensor, p: float, seed: int) -> dict:
    """Outputs in train mode (twice) and eval mode (twice) of a layer with dropout ``p``."""
    base = _linear(weight, bias)
    layer = _layer(module, base, r, alpha, A, B, dropout=p)
    torch.manual_seed(seed)
    with torch.no_grad():
        layer.train()
        train = [layer(x), layer(x)]
        layer.eval()
        evaluation = [layer(x), layer(x)]
        base_output = base(x)
    return {"train": train, "eval": evaluation, "base_output": base_output}


def big_layer(seed: int, n_in: int, n_out: int) -> dict:
    """Seeded base of a layer too large to copy freely (made where it is used, never sent): ``weight``
    and ``bias``."""
    generator = torch.Generator().manual_seed(seed)
    return {"weight": torch.randn(n_out, n_in, generator=generator) / n_in ** 0.5,
            "bias": torch.randn(n_out, generator=generator) * 0.1}


def secret_factors(secret: int, n_in: int, n_out: int, r: int, **_: Any) -> dict:
    """Grader side (``ProbeCall.bounded``): ``A``, a non-zero ``B`` and ``x`` of 3 rows, from a seed the
    worker never sees; handed over only once the worker's memory is limited."""
    generator = torch.Generator().manual_seed(secret)
    return {"A": torch.randn(r, n_in, generator=generator) / n_in ** 0.5, "B": torch.randn(n_out, r, generator=generator),
            "x": torch.randn(3, n_in, generator=generator)}


@returns({"output": VALUE, "error": (str, None)})
def bounded_forward(module: Any, seed: int, n_in: int, n_out: int, r: int, alpha: float, headroom_mb: int,
                    inputs: str, request: str | None = None) -> dict:
    """The unmerged forward of a large layer (with and without autograd) once the grader has let every
    process of the worker map only ``headroom_mb`` MB more than it does now: less than ``B @ A`` needs.

    The layer is built with zero factors; the real ``A``, ``B`` and ``x`` arrive only after the limit is
    set, and are copied into its factors in place. Returns the output, or the error that stopped it."""
    base = _linear(**big_layer(seed, n_in, n_out))
    layer = _layer(module, base, r, alpha, torch.zeros(r, n_in), torch.zeros(n_out, r))
    F.linear(torch.zeros(3, n_in), base.weight)  # the BLAS library's own buffers, before the limit
    given = await_inputs(inputs, request)   # the grader limits this process's memory first
    try:
        with torch.no_grad():
            layer.lora_A.copy_(given["A"])
            layer.lora_B.copy_(given["B"])
        layer(given["x"])
        with torch.no_grad():
            output = layer(given["x"]).detach().clone()
    except MemoryError as error:
        return {"output": None, "error": f"MemoryError: {error}"[:300]}
    except RuntimeError as error:   # torch's allocator says so with a RuntimeError
        return {"output": None, "error": f"{type(error).__name__}: {error}"[:300]}
    return {"output": output, "error": None}
