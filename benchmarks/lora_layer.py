"""Speed of the reference LoRALinear against nn.Linear, PEFT's LoRA layer and the naive W0 + B @ A.

Usage: python benchmarks/lora_layer.py [--dims 512 1024 2048] [--ranks 4 8 64] [--repeats 3]
                                        [--out benchmarks/results/lora_layer.json]

For each d (a square d x d layer) and r, on an input of batch x seq = 8 x 128, fp32, CPU, with a random
upstream gradient and an input that requires grad (as inside a network), it measures forward + backward:
  linear   a plain, trainable nn.Linear (what full fine-tuning of the layer costs)
  frozen   the same nn.Linear frozen (the floor: a LoRA layer adds its low-rank path to exactly this)
  lora     the reference LoRALinear, unmerged
  peft     PEFT's peft.tuners.lora.Linear with the same r, alpha and factors
  naive    forms W0 + scaling * B @ A on every call, then one matmul
and forward alone (no grad) of nn.Linear, of the unmerged and of the merged reference. Every variant is
timed in turn, `--repeats` times, and the fastest median is kept, which keeps other load on the machine
from skewing one variant. Prints ratios and writes everything as JSON. Targets (part 4 issue): lora
within 1.15x of nn.Linear at d=1024, r=8; merged 1.00x (+-3%); lora no slower than peft.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import torch
import torch.utils.benchmark as tb
from peft import LoraConfig
from peft.tuners.lora import Linear as PeftLinear
from torch import nn

from common import RESULTS, write_results

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


def forward_backward(layer: nn.Module, x: torch.Tensor, upstream: torch.Tensor):
    def run() -> None:
        x.grad = None
        layer.zero_grad(set_to_none=True)
        layer(x).backward(upstream)
    return run


def forward_only(layer: nn.Module, x: torch.Tensor):
    def run() -> None:
        with torch.no_grad():
            layer(x)
    return run


def measure(lora_module, d: int, r: int, repeats: int, min_time: float) -> dict:
    torch.manual_seed(0)
    alpha = 2.0 * r
    x = torch.randn(8, 128, d, requires_grad=True)
    upstream = torch.randn(8, 128, d)
    linear = nn.Linear(d, d)
    frozen = nn.Linear(d, d).requires_grad_(False)
    lora = lora_module.LoRALinear(nn.Linear(d, d), r, alpha)
    merged = lora_module.LoRALinear(nn.Linear(d, d), r, alpha)
    with torch.no_grad():
        lora.lora_B.normal_(std=1 / math.sqrt(r))
        merged.lora_B.copy_(lora.lora_B)
    merged.merge()
    peft = PeftLinear(nn.Linear(d, d), "default", config=LoraConfig(r=r, lora_alpha=alpha), r=r, lora_alpha=alpha)
    peft.base_layer.requires_grad_(False)
    with torch.no_grad():
        peft.lora_A["default"].weight.copy_(lora.lora_A)
        peft.lora_B["default"].weight.copy_(lora.lora_B)
    naive = NaiveLoRA(nn.Linear(d, d).requires_grad_(False), lora.lora_A.detach(), lora.lora_B.detach(), lora.scaling)
    runs = {name: forward_backward(layer, x, upstream) for name, layer in
            (("linear", linear), ("frozen", frozen), ("lora", lora), ("peft", peft), ("naive", naive))}
    runs.update({"linear_forward": forward_only(linear, x), "lora_forward": forward_only(lora, x),
                 "merged_forward": forward_only(merged, x)})
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            timings[name].append(median_seconds(run, min_time))
    seconds = {name: min(values) for name, values in timings.items()}
    ratios = {f"{name}_vs_linear": seconds[name] / seconds["linear"] for name in ("frozen", "lora", "peft", "naive")}
    ratios["lora_vs_frozen"] = seconds["lora"] / seconds["frozen"]
    ratios["lora_vs_peft"] = seconds["lora"] / seconds["peft"]
    ratios["lora_forward_vs_linear"] = seconds["lora_forward"] / seconds["linear_forward"]
    ratios["merged_forward_vs_linear"] = seconds["merged_forward"] / seconds["linear_forward"]
    return {"d": d, "r": r, "seconds": seconds, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--ranks", type=int, nargs="+", default=[4, 8, 64])
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all variants; the fastest is kept")
    parser.add_argument("--min-time", type=float, default=0.25, help="seconds of timing per measurement")
    parser.add_argument("--out", default=str(RESULTS / "lora_layer.json"))
    args = parser.parse_args()
    lora_module = reference_lora_module()
    print("batch x seq = 8 x 128, fp32, CPU. fwd+bwd columns: ratio to a plain (trainable) nn.Linear;")
    print("lora/frozen: to the frozen nn.Linear it wraps; fwd columns: forward alone, ratio to nn.Linear's forward")
    print(f"{'d':>5} {'r':>3} {'linear ms':>10} {'frozen':>7} {'lora':>6} {'peft':>6} {'naive':>6} "
          f"{'lora/frozen':>12} {'lora/peft':>10} {'fwd lora':>9} {'fwd merged':>11}")
    rows = []
    for d in args.dims:
        for r in args.ranks:
            row = measure(lora_module, d, r, args.repeats, args.min_time)
            rows.append(row)
            q = row["ratios"]
            print(f"{d:>5} {r:>3} {row['seconds']['linear'] * 1e3:>10.2f} {q['frozen_vs_linear']:>7.2f} "
                  f"{q['lora_vs_linear']:>6.2f} {q['peft_vs_linear']:>6.2f} {q['naive_vs_linear']:>6.2f} "
                  f"{q['lora_vs_frozen']:>12.2f} {q['lora_vs_peft']:>10.2f} {q['lora_forward_vs_linear']:>9.2f} "
                  f"{q['merged_forward_vs_linear']:>11.2f}", flush=True)
    write_results(args.out, {"rows": rows, "repeats": args.repeats, "min_time": args.min_time})


if __name__ == "__main__":
    main()
