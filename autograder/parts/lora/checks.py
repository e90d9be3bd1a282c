"""Hidden checks of part ``lora``: LoRALinear, merging, injection into a model, state dicts."""

from __future__ import annotations

import math
import random
from functools import partial

import torch
from torch.nn import functional as F

from ...core.model import Check, Claim, Fail, ProbeCall, register
from ..compare import describe_type, expect_number, fmt_value, expect_raises, expect_tensor, field, reference_value, result_of
from ..inputs import torch_generator
from . import probes

expect_close = partial(expect_tensor, rtol=1e-4, atol=1e-5)


def layer_args(rng: random.Random, n_in: int | None = None, n_out: int | None = None, r: int | None = None,
               alpha: float | None = None, bias: bool = True) -> tuple[dict, torch.Generator]:
    """Seeded base weights and LoRA factors: ``weight``, ``bias``, ``r``, ``alpha``, ``A`` and a non-zero ``B``."""
    generator = torch_generator(rng)
    if n_in is None:
        n_in, n_out = rng.sample(range(10, 33), 2)
    r = r or rng.choice([2, 3, 4])
    alpha = alpha or float(rng.choice([8, 12, 16, 32]))
    args = {"weight": torch.randn(n_out, n_in, generator=generator) / math.sqrt(n_in),
            "bias": torch.randn(n_out, generator=generator) * 0.1 if bias else None,
            "r": r, "alpha": alpha,
            "A": torch.randn(r, n_in, generator=generator) / math.sqrt(n_in),
            "B": torch.randn(n_out, r, generator=generator)}
    return args, generator


def describe(args: dict, dropout: float = 0.0) -> str:
    out_features, in_features = args["weight"].shape
    extra = f", dropout={dropout:g}" if dropout else ""
    return f"LoRALinear(nn.Linear({in_features}, {out_features}), r={args['r']}, alpha={args['alpha']:g}{extra})"


def without(args: dict, *names: str) -> dict:
    return {key: value for key, value in args.items() if key not in names}


def base_output(args: dict, x: torch.Tensor) -> torch.Tensor:
    """``base(x)`` of the given weight and bias, computed here, in the grading process (float64)."""
    return x.double() @ args["weight"].double().T + (args["bias"].double() if args["bias"] is not None else 0)


def low_rank_output(args: dict, x: torch.Tensor, scaling: float) -> torch.Tensor:
    """``base(x) + scaling * x A^T B^T`` computed here, in the grading process, for diagnoses."""
    return base_output(args, x) + scaling * (x.double() @ args["A"].double().T @ args["B"].double().T)


@register
class ZeroInit(Check):
    id = "zero_init"
    title = "a fresh LoRALinear computes exactly what its base layer computes (B starts at zero)"

    def plan(self, rng):
        args, generator = layer_args(rng)
        x = torch.randn(4, args["weight"].shape[1], generator=generator)
        return [ProbeCall(probes.construct, {**without(args, "A", "B"), "x": x})]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = describe(args)
        value = result_of(got[0], what)
        B, expected = field(value, "B", what), reference_value(want[0], what)
        if isinstance(B, torch.Tensor) and B.is_floating_point() and bool(B.any()):
            raise Fail(f"{what}: lora_B must start at zero (so the update B A is zero and training starts from the "
                       f"pretrained model), but it holds values up to {B.abs().max().item():.3g}")
        expect_tensor(B, expected["B"], f"{what}: lora_B of a fresh layer", rtol=0, atol=0)
        # the base layer's output is computed here, from the weights the grader gave
        expect_close(field(value, "output", what), base_output(args, args["x"]), f"{what}: layer(x) for a fresh layer must equal base(x)")


@register
class Init(Check):
    id = "init"
    title = "lora_A [r, in] is Kaiming-uniform like PEFT, lora_B [out, r], both trainable parameters; scaling = alpha / r"

    def plan(self, rng):
        generator = torch_generator(rng)
        args = {"weight": torch.randn(48, 64, generator=generator) / 8, "bias": None, "r": 8,
                "alpha": float(rng.choice([4, 32]))}
        return [ProbeCall(probes.construct, {**args, "x": torch.randn(2, 64, generator=generator)})]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = describe(args)
        value = result_of(got[0], what)
        A, B = field(value, "A", what), field(value, "B", what)
        for name, tensor, shape in (("lora_A", A, [8, 64]), ("lora_B", B, [48, 8])):
            if not isinstance(tensor, torch.Tensor) or list(tensor.shape) != shape:
                raise Fail(f"{what}: {name} should have shape {shape} ([r, in_features] for A, [out_features, r] "
                           f"for B), got {describe_type(tensor)}")
        bound = 1 / math.sqrt(64)  # kaiming_uniform_(a=sqrt(5)) on fan_in = 64
        if A.abs().max().item() > bound * 1.0001 or not 0.75 < A.std().item() / (bound / math.sqrt(3)) < 1.25:
            raise Fail(f"{what}: lora_A should be initialised like PEFT, nn.init.kaiming_uniform_(A, a=math.sqrt(5)), "
                       f"i.e. uniform in [-{bound:.4g}, {bound:.4g}]; yours has max |A| = {A.abs().max().item():.4g} "
                       f"and standard deviation {A.std().item():.4g}")
        r, alpha = args["r"], args["alpha"]
        expect_number(field(value, "scaling", what), alpha / r,
                      f"{what}: scaling should be alpha / r = {alpha:g} / {r}", rtol=1e-6)
        # what the worker says about the type of the student's objects: a claim (SECURITY.md)
        if not (value["A_is_parameter"] and value["B_is_parameter"]):
            raise Claim(f"{what}: lora_A and lora_B must be nn.Parameter objects so that the optimizer and "
                        f"state_dict see them")


@register
class Validation(Check):
    id = "validation"
    title = "LoRALinear raises ValueError for r < 1, alpha <= 0 and dropout outside [0, 1)"

    CASES = ({"r": 0}, {"alpha": 0.0}, {"dropout": 1.0}, {"dropout": -0.1})

    def plan(self, rng):
        args, generator = layer_args(rng)
        x = torch.randn(2, args["weight"].shape[1], generator=generator)
        return [ProbeCall(probes.construct, {**without(args, "A", "B"), "x": x, **case}) for case in self.CASES]

    def judge(self, calls, got, want):
        for call, outcome, case in zip(calls, got, self.CASES):
            name, bad = next(iter(case.items()))
            expect_raises(outcome, "ValueError", f"LoRALinear(base, r={call.args['r']}, alpha={call.args['alpha']:g}, "
                                                 f"dropout={call.args.get('dropout', 0.0):g}) with the invalid {name}={bad:g}")


@register
class Forward(Check):
    id = "forward"
    title = "forward = base(x) + (alpha / r) * B A x for given A and B, on inputs of any leading shape"

    def plan(self, rng):
        args, generator = layer_args(rng)
        n_in = args["weight"].shape[1]
        inputs = [torch.randn(5, n_in, generator=generator), torch.randn(2, 3, n_in, generator=generator),
                  torch.randn(n_in, generator=generator)]
        as_double = {key: value.double() if isinstance(value, torch.Tensor) else value for key, value in args.items()}
        return [ProbeCall(probes.forward, {**args, "inputs": inputs}),
                ProbeCall(probes.forward, {**as_double, "inputs": [inputs[0].double()]})]

    def judge(self, calls, got, want):
        for call, student, reference in zip(calls, got, want):
            args = call.args
            dtype = str(args["weight"].dtype).removeprefix("torch.")
            what = describe(args) + f" ({dtype} base layer) with given lora_A and lora_B"
            outputs = field(result_of(student, what), "outputs", what)
            expected = reference_value(reference, what)["outputs"]
            for x, output, wanted in zip(args["inputs"], outputs, expected):
                shown = f"{what}: layer(x) for x of shape {list(x.shape)}"
                expect_close(output, wanted, shown)
                if output.dtype != wanted.dtype:
                    raise Fail(f"{shown} has dtype {output.dtype}, expected {wanted.dtype}: create lora_A and lora_B "
                               f"with the base weight's dtype and device")


@register
class Scaling(Check):
    id = "scaling"
    title = "the update is scaled by alpha / r (not alpha, not r / alpha)"

    def plan(self, rng):
        calls = []
        for r, alpha in ((4, 16.0), (8, 2.0)):
            args, generator = layer_args(rng, r=r, alpha=alpha)
            calls.append(ProbeCall(probes.forward, {**args, "inputs": [torch.randn(6, args["weight"].shape[1],
                                                                                     generator=generator)]}))
        return calls

    def judge(self, calls, got, want):
        for call, outcome in zip(calls, got):
            args = call.args
            what = describe(args) + " with given lora_A and lora_B"
            output = field(result_of(outcome, what), "outputs", what)[0]
            x, r, alpha = args["inputs"][0], args["r"], args["alpha"]
            if not isinstance(output, torch.Tensor) or list(output.shape) != [x.shape[0], args["weight"].shape[0]]:
                raise Fail(f"{what}: layer(x) should be a tensor of shape {[x.shape[0], args['weight'].shape[0]]}, "
                           f"got {describe_type(output)}")
            if torch.allclose(output.double(), low_rank_output(args, x, alpha / r), rtol=1e-4, atol=1e-5):
                continue
            for scaling, name in ((alpha, "alpha"), (r / alpha, "r / alpha"), (1.0, "1 (no scaling)")):
                if torch.allclose(output.double(), low_rank_output(args, x, scaling), rtol=1e-4, atol=1e-5):
                    raise Fail(f"{what}: your update is scaled by {name} = {scaling:g}; LoRA scales it by "
                               f"alpha / r = {alpha / r:g}, so changing r does not change the update's size")
            raise Fail(f"{what}: layer(x) is not base(x) + (alpha / r) * B A x for any usual scaling")


@register
class Gradients(Check):
    id = "gradients"
    title = "gradients reach only lora_A and lora_B; the base weight and bias are frozen"

    def plan(self, rng):
        args, generator = layer_args(rng)
        n_out, n_in = args["weight"].shape
        return [ProbeCall(probes.gradients, {**args, "x": torch.randn(5, n_in, generator=generator),
                                             "upstream": torch.randn(5, n_out, generator=generator)})]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = describe(args) + ": after (layer(x) * g).sum().backward()"
        value = result_of(got[0], what)
        grads, expected = field(value, "grad", what), reference_value(want[0], what)["grad"]
        for name in ("base.weight", "base.bias"):
            if grads.get(name) is not None:
                raise Fail(f"{what}, {name}.grad is not None: the base layer must be frozen "
                           f"(requires_grad = False), only lora_A and lora_B train")
        for name in ("lora_A", "lora_B"):
            if grads.get(name) is None:
                raise Fail(f"{what}, {name}.grad is None: {name} must be a trainable nn.Parameter used in forward")
            expect_close(grads[name], expected[name], f"{what}, {name}.grad")
        r, (n_out, n_in) = args["r"], args["weight"].shape
        if value["trainable_numel"] != r * (n_in + n_out) or value["trainable_tensors"] != 2:
            raise Fail(f"{what}: the layer has {value['trainable_tensors']} trainable tensors with "
                       f"{value['trainable_numel']} numbers; expected exactly lora_A and lora_B, r * (in + out) = "
                       f"{r * (n_in + n_out)} numbers")


@register
class Merge(Check):
    id = "merge"
    title = "delta_weight, merge and unmerge: merged output unchanged, original weight restored, no double merge"

    def plan(self, rng):
        args, generator = layer_args(rng)
        return [ProbeCall(probes.merging, {**args, "x": torch.randn(4, args["weight"].shape[1], generator=generator)})]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = describe(args)
        value = result_of(got[0], what)
        expected = reference_value(want[0], what)
        weight = args["weight"]
        expect_close(field(value, "delta", what), expected["delta"], f"{what}: delta_weight() (scaling * B @ A, shape "
                                                                f"[out_features, in_features])")
        if [value["merged_before"], value["merged_flag"]] != [expected["merged_before"], expected["merged_flag"]]:
            raise Fail(f"{what}: merged should be False before merge() and True after it")
        expect_close(value["merged_weight"], weight + expected["delta"], f"{what}: base.weight after merge() "
                                                                   f"(it should be W0 + delta_weight())")
        expect_close(value["merged_output"], expected["output"], f"{what}: layer(x) after merge() should equal layer(x) "
                                                          f"before it (once merged, the forward is the plain linear)")
        if value["second_merge_error"] is None:
            expect_close(value["weight_after_second_merge"], weight + expected["delta"],
                  f"{what}: calling merge() twice must not add the update twice (make it a no-op or an error)")
        if value["unmerged_flag"] != expected["unmerged_flag"]:
            raise Fail(f"{what}: merged should be False after unmerge()")
        expect_close(value["restored_weight"], weight, f"{what}: base.weight after merge() then unmerge() "
                                                f"(unmerge must restore the original weight)")
        expect_close(value["unmerged_output"], expected["output"], f"{what}: layer(x) after merge() then unmerge()")
        if value["second_unmerge_error"] is None:
            expect_close(value["weight_after_second_unmerge"], weight,
                  f"{what}: unmerge() on an unmerged layer must not change the weight (a no-op or an error)")


TARGETS = (["q_proj", "v_proj"], ["o_proj", "mlp.up_proj"], ["up_proj"])  # the model also has mlp.gate_up_proj


@register
class ApplyLora(Check):
    id = "apply_lora"
    title = "apply_lora adapts exactly the named modules and freezes the rest; counts; merge_lora and unmerge_lora"

    def plan(self, rng):
        seed, ids = rng.getrandbits(31), torch.randint(0, 50, (2, 6), generator=torch_generator(rng))
        r = rng.choice([2, 4])
        return [ProbeCall(probes.inject, {"seed": seed, "targets": targets, "r": r, "alpha": 8.0, "ids": ids})
                for targets in TARGETS] + [
            ProbeCall(probes.inject, {"seed": seed, "targets": ["nonexistent"], "r": r, "alpha": 8.0, "ids": ids})]

    def judge(self, calls, got, want):
        for call, outcome, reference in zip(calls[:-1], got, want):
            r = call.args["r"]
            what = f"apply_lora(model, target_modules={call.args['targets']}, r={r}, alpha=8) on a 2-layer transformer"
            value = result_of(outcome, what)
            expected = reference_value(reference, what)
            adapted = field(value, "adapted", what)
            if adapted != expected["adapted"]:
                raise Fail(f"{what}: adapted {adapted}, expected exactly {expected['adapted']} (every nn.Linear whose "
                           f"qualified name equals a target or ends with '.' + a target, and nothing else)")
            if value["returned_model"] is not expected["returned_model"]:
                raise Fail(f"{what} should return the model it modified")
            expect_close(value["after"], expected["before"], f"{what}: the model's output right after apply_lora "
                                                   f"(fresh LoRA layers must not change it)")
            expect_close(value["updated"], expected["updated"], f"{what}: the model's output once the adapted layers get "
                                                         f"non-zero lora_A and lora_B (are the LoRA layers really in "
                                                         f"the model, in place of the original modules?)")
            if value["merged_flags"] != expected["merged_flags"] or value["unmerged_flags"] != expected["unmerged_flags"]:
                raise Fail(f"{what}: merge_lora(model) must merge every LoRA layer (merged = True) and "
                           f"unmerge_lora(model) unmerge them all; got merged = {value['merged_flags']} after "
                           f"merge_lora and {value['unmerged_flags']} after unmerge_lora")
            # merging changes fp32 rounding, which a 2-layer transformer amplifies to about 2e-5
            expect_tensor(value["merged_output"], expected["updated"], f"{what}: the model's output after merge_lora(model)",
                          rtol=1e-4, atol=1e-4)
            expect_tensor(value["unmerged_output"], expected["updated"], f"{what}: the model's output after "
                                                                    f"unmerge_lora(model)", rtol=1e-4, atol=1e-4)
            shapes = expected["linear_shapes"]
            lora_numel = sum(r * sum(shapes[name]) for name in adapted)
            if value["trainable_numel"] != lora_numel:
                raise Fail(f"{what}: {value['trainable_numel']} parameters are trainable; only the LoRA factors should "
                           f"be, r * (in + out) summed over the adapted modules = {lora_numel}")
            total = expected["total_numel"]
            if value["total_numel"] != total:
                raise Fail(f"{what}: the adapted model has {value['total_numel']} parameters, expected {total} (the "
                           f"original model's and r * (in + out) for each adapted module)")
            if value["count_parameters"] != [lora_numel, total]:
                raise Fail(f"{what}: count_parameters(model) returned {fmt_value(value['count_parameters'])}, expected "
                           f"(trainable, total) = ({lora_numel}, {total})")
            counts = value["lora_parameter_count"]
            for name in adapted:
                count = counts.get(name) if isinstance(counts, dict) else None
                if count != expected["lora_parameter_count"][name]:
                    n_in, n_out = shapes[name]
                    raise Fail(f"lora_parameter_count({n_in}, {n_out}, {r}) returned {fmt_value(count)}, expected "
                               f"r * (in + out) = {r * (n_in + n_out)}")
        expect_raises(got[-1], "ValueError", "apply_lora(model, target_modules=['nonexistent'], ...) (nothing matches)")


@register
class StateDict(Check):
    id = "state_dict"
    title = "lora_state_dict holds only the LoRA tensors, and load_lora_state_dict restores them"

    def plan(self, rng):
        ids = torch.randint(0, 50, (2, 5), generator=torch_generator(rng))
        return [ProbeCall(probes.state_round_trip, {"seed": rng.getrandbits(31), "targets": ["q_proj", "k_proj", "down_proj"],
                                                    "r": 2, "alpha": 4.0, "ids": ids})]

    def judge(self, calls, got, want):
        what = "lora_state_dict(model) of a transformer adapted on q_proj, k_proj, down_proj"
        value = result_of(got[0], what)
        expected = reference_value(want[0], what)
        if field(value, "shapes", what) != expected["shapes"] or value["keys"] != expected["keys"]:
            raise Fail(f"{what}: expected {expected['keys']} tensors ({expected['numel']} numbers: lora_A and lora_B of "
                       f"each adapted layer, nothing of the frozen base), got {value['keys']} entries with "
                       f"{value['numel']} numbers")
        expect_close(value["loaded"], expected["expected"], "the output of a fresh adapted model after "
                                                  "load_lora_state_dict(fresh, lora_state_dict(trained))")
        for case in ("missing", "unexpected"):
            if value[f"{case}_key_error"] is None:
                raise Fail(f"load_lora_state_dict(model, state) with a state that has a {case} key returned "
                           f"silently; it should raise an error naming the key, so a wrong adapter is never "
                           f"half-loaded")


@register
class Dropout(Check):
    id = "dropout"
    title = "dropout acts on the input of the low-rank path only, and only in train() mode"

    def plan(self, rng):
        args, generator = layer_args(rng, r=2)
        x = torch.randn(8, args["weight"].shape[1], generator=generator)
        return [ProbeCall(probes.dropout, {**args, "x": x, "p": 0.5, "seed": rng.getrandbits(31)})]

    def judge(self, calls, got, want):
        args = calls[0].args
        what = describe(args, dropout=0.5) + " with given lora_A and lora_B"
        value = result_of(got[0], what)
        expected = reference_value(want[0], what)
        evaluation, train = field(value, "eval", what), field(value, "train", what)
        expect_close(evaluation[0], expected["eval"][0], f"{what}: layer(x) in eval() mode (dropout must be off)")
        expect_close(evaluation[1], expected["eval"][0], f"{what}: layer(x) called again in eval() mode")
        shape = list(expected["train"][0].shape)
        for output in train:
            if not isinstance(output, torch.Tensor) or list(output.shape) != shape or not output.is_floating_point():
                raise Fail(f"{what}: layer(x) in train() mode should be a float tensor of shape {shape}, got "
                           f"{describe_type(output)}")
        if torch.equal(train[0], train[1]):
            raise Fail(f"{what}: two calls of layer(x) in train() mode gave the same output; dropout is not active")
        residual = train[0].double() - base_output(args, args["x"])
        Q, _ = torch.linalg.qr(args["B"].double())
        outside = residual - residual @ Q @ Q.T
        if outside.norm() > 1e-4 * (1 + residual.norm()):
            raise Fail(f"{what}: in train() mode, layer(x) - base(x) should be (alpha / r) * B A dropout(x), but it "
                       f"has a part outside the columns of B; dropout belongs on the input of the low-rank path only, "
                       f"never on the base path or on the output")


@register
class NoMaterialise(Check):
    id = "no_materialise"
    title = "the forward pass never forms the [out, in] matrix B @ A"

    # a 4096 x 4096 layer (64 MB of weight): B @ A needs 64 MB more, the bottleneck a few kilobytes
    SIZE, RANK, HEADROOM_MB = 4096, 4, 24

    def plan(self, rng):
        # ``secret`` (A, B and x) stays in the grading process until the worker's memory is limited
        return [ProbeCall(probes.bounded_forward, {"seed": rng.getrandbits(62), "n_in": self.SIZE, "n_out": self.SIZE,
                                                   "r": self.RANK, "alpha": float(rng.choice([8, 16])),
                                                   "headroom_mb": self.HEADROOM_MB},
                          context={"secret": rng.getrandbits(62)}, bounded=probes.secret_factors)]

    def judge(self, calls, got, want):
        from .probes import big_layer, secret_factors

        args = calls[0].args
        what = (f"LoRALinear(nn.Linear({args['n_in']}, {args['n_out']}), r={args['r']}, alpha={args['alpha']:g}) "
                f"on x of shape [3, {args['n_in']}], allowed {args['headroom_mb']} MB of memory beyond the layer")
        value = result_of(got[0], what)
        grant = (got[0].observed or {}).get("grant")
        if not grant or not grant.get("granted"):   # observed by the grading process, not reported by the worker
            why = grant["why"] if grant else "the probe never asked for its inputs"
            raise Fail(f"{what}: the forward pass did not run under the grader's memory limit ({why}); "
                       f"do not change how the grader's probe runs")
        if field(value, "error", what) is not None:
            raise Fail(f"{what}: the forward pass failed ({str(value['error'])[:200]}); it needs memory for an "
                       f"[{args['n_out']}, {args['n_in']}] matrix, which is B @ A (or W0 + B @ A). Compute B (A x) "
                       f"through the rank-{args['r']} bottleneck instead; forming B @ A costs as much memory and time "
                       f"as the weight LoRA avoids training")
        # the memory limit was set on the worker by the grading process; the output is recomputed here
        base = big_layer(args["seed"], args["n_in"], args["n_out"])
        factors = secret_factors(calls[0].context["secret"], args["n_in"], args["n_out"], args["r"])
        x = factors["x"]
        expected = (F.linear(x, base["weight"], base["bias"])
                    + args["alpha"] / args["r"] * (x @ factors["A"].T) @ factors["B"].T)
        expect_tensor(field(value, "output", what), expected, f"{what}: the output (with the lora_A and lora_B "
                      f"given after the layer was built)", rtol=1e-4, atol=1e-4)
