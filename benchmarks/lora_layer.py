"""Speed of the reference LoRALinear against nn.Linear, PEFT's LoRA layer and the naive W0 + B @ A.

Usage: python benchmarks/lora_layer.py [--dims 512 1024 2048] [--ranks 4 8 64] [--min-time 0.4]
                                        [--out benchmarks/results/lora_layer.json]

For each d (square d x d layer) and r, on an input of batch x seq = 8 x 128, fp32, CPU, measures the
median time of forward + backward (the input requires grad, as inside a network; the base is frozen):
  linear   a frozen nn.Linear (the floor: LoRA can only add to it)
  full     a trainable nn.Linear (full fine-tuning of the layer)
  lora     the reference LoRALinear, unmerged
  peft     PEFT's peft.tuners.lora.Linear with the same r, alpha and factors
  naive    forms W0 + scaling * B @ A on every call, then one matmul
and the forward alone of the merged reference (against a frozen nn.Linear's forward). Prints the
ratios to `linear` and writes everything as JSON. Targets (issue: part 4): lora <= 1.15x linear at
d=1024, r=8; merged 1.00x (+-3%); lora no slower than peft.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import sys
from pathlib import Path

import torch
import torch.utils.benchmark as tb
from peft import LoraConfig
from peft.tuners.lora import Linear as PeftLinear
from torch import nn

ROOT = Path(__file__).resolve().parent.parent


def reference_lora_module():
    path = ROOT / "solutions" / "lora" / "lora_lab" / "lora.py"
    spec = importlib.util.spec_from_file_location("reference_lora", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NaiveLoRA(nn.Module):
    """What LoRA tells you not to do: build the full [out, in] update on every call."""

    def __init__(self, base: nn.Linear, A: torch.Tensor, B: torch.Tensor, scaling: float) -> None:
        super().__init__()
        self.base, self.scaling = base, scaling
        self.lora_A, self.lora_B = nn.Parameter(A.clone()), nn.Parameter(B.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.base.weight + self.scaling * (self.lora_B @ self.lora_A)
        return nn.functional.linear(x, weight, self.base.bias)


def median_seconds(fn, min_time: float) -> float:
    timer = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_time).median


def forward_backward(layer: nn.Module, x: torch.Tensor):
    def run() -> None:
        x.grad = None
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()
    return run


def forward_only(layer: nn.Module, x: torch.Tensor):
    def run() -> None:
        with torch.no_grad():
            layer(x)
    return run


def measure(lora_module, d: int, r: int, min_time: float) -> dict:
    torch.manual_seed(0)
    alpha = 2.0 * r
    x = torch.randn(8, 128, d, requires_grad=True)
    frozen = nn.Linear(d, d).requires_grad_(False)
    full = nn.Linear(d, d)
    lora = lora_module.LoRALinear(nn.Linear(d, d), r, alpha)
    with torch.no_grad():
        lora.lora_B.normal_(std=1 / math.sqrt(r))
    peft = PeftLinear(nn.Linear(d, d), "default", config=LoraConfig(r=r, lora_alpha=alpha), r=r, lora_alpha=alpha)
    peft.base_layer.requires_grad_(False)
    with torch.no_grad():
        peft.lora_A["default"].weight.copy_(lora.lora_A)
        peft.lora_B["default"].weight.copy_(lora.lora_B)
    naive = NaiveLoRA(nn.Linear(d, d).requires_grad_(False), lora.lora_A.detach(), lora.lora_B.detach(), lora.scaling)

    seconds = {name: median_seconds(forward_backward(layer, x), min_time)
               for name, layer in (("linear", frozen), ("full", full), ("lora", lora), ("peft", peft), ("naive", naive))}
    seconds["linear_forward"] = median_seconds(forward_only(frozen, x), min_time)
    lora.merge()
    seconds["merged_forward"] = median_seconds(forward_only(lora, x), min_time)
    ratios = {name: seconds[name] / seconds["linear"] for name in ("full", "lora", "peft", "naive")}
    ratios["merged_forward"] = seconds["merged_forward"] / seconds["linear_forward"]
    ratios["lora_vs_peft"] = seconds["lora"] / seconds["peft"]
    return {"d": d, "r": r, "seconds": seconds, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--ranks", type=int, nargs="+", default=[4, 8, 64])
    parser.add_argument("--min-time", type=float, default=0.4, help="seconds of timing per measurement")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "lora_layer.json"))
    args = parser.parse_args()
    lora_module = reference_lora_module()
    header = (f"{'d':>5} {'r':>3} {'linear ms':>10} {'full':>6} {'lora':>6} {'peft':>6} {'naive':>6} "
              f"{'merged fwd':>11} {'lora/peft':>10}")
    print("forward+backward, batch x seq = 8 x 128, fp32 CPU; ratios to a frozen nn.Linear")
    print(header)
    rows = []
    for d in args.dims:
        for r in args.ranks:
            row = measure(lora_module, d, r, args.min_time)
            rows.append(row)
            q = row["ratios"]
            print(f"{d:>5} {r:>3} {row['seconds']['linear'] * 1e3:>10.2f} {q['full']:>6.2f} {q['lora']:>6.2f} "
                  f"{q['peft']:>6.2f} {q['naive']:>6.2f} {q['merged_forward']:>11.2f} {q['lora_vs_peft']:>10.2f}",
                  flush=True)
    result = {"rows": rows, "machine": {"python": platform.python_version(), "torch": torch.__version__,
                                        "threads": torch.get_num_threads(), "platform": sys.platform}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
