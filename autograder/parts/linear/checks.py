"""Hidden checks of part ``linear``: ``ManualLinear`` and its round trip with ``torch.nn.Linear``."""

from __future__ import annotations

import math
import statistics
from functools import partial

import torch

from ...core.model import Check, Claim, Fail, ProbeCall, register
from ..compare import expect_nested, expect_optional, expect_tensor, field, nested_shape, reference_value, result_of
from ..inputs import random_matrix, random_vector, torch_generator
from . import probes


@register
class Init(Check):
    id = "init"
    title = "ManualLinear's initial weight and bias: layout, range, spread, seeding"

    def plan(self, rng):
        seed, other = rng.sample(range(1, 10_000), 2)
        return [ProbeCall(probes.construct, {"in_features": 64, "out_features": 48, "seed": seed}),
                ProbeCall(probes.construct, {"in_features": 64, "out_features": 48, "seed": seed}),
                ProbeCall(probes.construct, {"in_features": 64, "out_features": 48, "seed": other}),
                ProbeCall(probes.construct, {"in_features": 5, "out_features": 3, "bias": False, "seed": seed})]

    def judge(self, calls, got, want):
        seed = calls[0].args["seed"]
        what = f"ManualLinear(64, 48, seed={seed})"
        first, again, other, no_bias = (result_of(outcome, what) for outcome in got)
        weight, bias = field(first, "weight", what), field(first, "bias", what)
        if nested_shape(weight) != (64, 48):
            raise Fail(f"{what}.weight: expected 64 lists (in_features) of 48 numbers (out_features), "
                       f"got {_shape_text(weight)}; the layer computes x @ W, so W is [in_features][out_features]")
        if nested_shape(bias) != (48,):
            raise Fail(f"{what}.bias: expected a list of 48 numbers (out_features), got {_shape_text(bias)}")
        bound = 1 / math.sqrt(64)
        values = [v for row in weight for v in row]
        if max(abs(v) for v in values + bias) > bound:
            raise Fail(f"{what}: values must lie in [-1/sqrt(in_features), 1/sqrt(in_features)] = "
                       f"[-{bound:.4g}, {bound:.4g}], found {max(values + bias, key=abs):.4g}")
        spread = statistics.pstdev(values)
        expected_spread = bound / math.sqrt(3)
        if not 0.85 * expected_spread < spread < 1.15 * expected_spread or abs(statistics.fmean(values)) > 0.2 * bound:
            raise Fail(f"{what}.weight: mean {statistics.fmean(values):.4g} and standard deviation {spread:.4g} do "
                       f"not look uniform on [-{bound:.4g}, {bound:.4g}] (expected mean 0, deviation {expected_spread:.4g})")
        if field(no_bias, "bias", what) is not None:
            raise Fail(f"ManualLinear(5, 3, bias=False).bias should be None, got {_shape_text(no_bias['bias'])}")
        # Seeding compares two layers the worker reports, which no reference can reproduce (the draws are the
        # student's own): a claim (SECURITY.md), so it costs at most one point.
        if field(again, "weight", what) != weight or field(again, "bias", what) != bias:
            raise Claim(f"{what} built twice gave different weights; the same seed must give the same layer "
                        f"(use random.Random(seed) rather than the global random module)")
        if field(other, "weight", what) == weight:
            raise Claim(f"ManualLinear(64, 48) gave the same weights for seeds {seed} and {calls[2].args['seed']}")


def _shape_text(value) -> str:
    shape = nested_shape(value)
    return f"a {'x'.join(map(str, shape))} list" if shape else f"{type(value).__name__}"


@register
class Forward(Check):
    id = "forward"
    title = "ManualLinear.forward and __call__ on one vector and on a batch, with and without bias"

    def plan(self, rng):
        n_in, n_out = rng.randint(3, 6), rng.randint(2, 5)
        weight = random_matrix(rng, n_in, n_out)
        inputs = [random_vector(rng, n_in), random_matrix(rng, 3, n_in)]
        return [ProbeCall(probes.forward, {"weight": weight, "bias": random_vector(rng, n_out), "inputs": inputs}),
                ProbeCall(probes.forward, {"weight": weight, "bias": None, "inputs": inputs})]

    def judge(self, calls, got, want):
        for call, student, reference in zip(calls, got, want):
            weight = call.args["weight"]
            layer = (f"a ManualLinear({len(weight)}, {len(weight[0])}, bias={call.args['bias'] is not None}) "
                     f"with weight = {weight} and bias = {call.args['bias']}")
            value = result_of(student, f"forward of {layer}")
            expected = reference_value(reference, layer)
            for method in ("forward", "call"):
                for x, got_y, want_y in zip(call.args["inputs"], field(value, method, layer), expected[method]):
                    kind = "a batch" if isinstance(x[0], list) else "a single vector"
                    name = "layer.forward(x)" if method == "forward" else "layer(x)"
                    expect_nested(got_y, want_y, f"{name} on {kind} x = {x}, for {layer}", rtol=1e-9, atol=1e-9)


@register
class Repr(Check):
    id = "repr"
    title = "repr(ManualLinear) shows in_features, out_features and bias"

    def plan(self, rng):
        return [ProbeCall(probes.construct, {"in_features": 6, "out_features": 4, "seed": 0}),
                ProbeCall(probes.construct, {"in_features": rng.randint(7, 20), "out_features": rng.randint(2, 9),
                                               "bias": False, "seed": 0})]

    def judge(self, calls, got, want):
        for call, student, reference in zip(calls, got, want):
            args = call.args
            what = f"repr(ManualLinear({args['in_features']}, {args['out_features']}, bias={args.get('bias', True)}))"
            shown = field(result_of(student, what), "repr", what)
            expected = reference_value(reference, what)["repr"]
            if shown != expected:
                raise Fail(f"{what} is {shown!r}, expected {expected!r}")


@register
class FromTorch(Check):
    id = "from_torch"
    title = "ManualLinear.from_torch copies the transposed weight and the bias exactly"

    def plan(self, rng):
        generator = torch_generator(rng)
        n_in, n_out = rng.sample(range(2, 8), 2)
        inputs = [random_vector(rng, n_in), random_matrix(rng, 2, n_in)]
        return [ProbeCall(probes.from_torch, {"weight": torch.randn(n_out, n_in, generator=generator),
                                                "bias": torch.randn(n_out, generator=generator), "inputs": inputs}),
                ProbeCall(probes.from_torch, {"weight": torch.randn(n_out, n_in, generator=generator),
                                                "bias": None, "inputs": inputs})]

    def judge(self, calls, got, want):
        for call, student, reference in zip(calls, got, want):
            out_features, in_features = call.args["weight"].shape
            what = (f"ManualLinear.from_torch(nn.Linear({in_features}, {out_features}, "
                    f"bias={call.args['bias'] is not None}))")
            value = result_of(student, what)
            expected = reference_value(reference, what)
            if field(value, "type", what) != expected["type"]:
                raise Fail(f"{what} returned a {value['type'][:60]}, expected a ManualLinear")
            expect_nested(value["weight"], expected["weight"], f"{what}.weight (torch's weight has shape "
                          f"[out, in] = [{out_features}, {in_features}]; yours must be its transpose)", rtol=0, atol=1e-7)
            expect_optional(value["bias"], expected["bias"], f"{what}.bias (the torch layer's bias)",
                            partial(expect_nested, rtol=0, atol=1e-7))
            for x, got_y, want_y in zip(call.args["inputs"], value["outputs"], expected["outputs"]):
                expect_nested(got_y, want_y, f"{what}(x) for x = {x}", rtol=1e-6, atol=1e-6)


@register
class ToTorch(Check):
    id = "to_torch"
    title = "ManualLinear.to_torch builds an nn.Linear that computes the same thing"

    def plan(self, rng):
        n_in, n_out = rng.sample(range(2, 8), 2)
        inputs = random_matrix(rng, 3, n_in)
        weight = random_matrix(rng, n_in, n_out)
        return [ProbeCall(probes.to_torch, {"weight": weight, "bias": random_vector(rng, n_out), "inputs": inputs}),
                ProbeCall(probes.to_torch, {"weight": weight, "bias": None, "inputs": inputs})]

    def judge(self, calls, got, want):
        for call, student, reference in zip(calls, got, want):
            weight = call.args["weight"]
            what = (f"to_torch() of a ManualLinear({len(weight)}, {len(weight[0])}, bias={call.args['bias'] is not None})"
                    f" with weight = {weight}")
            value = result_of(student, what)
            expected = reference_value(reference, what)
            if field(value, "type", what) != "Linear":
                raise Fail(f"{what} returned a {value['type'][:60]}, expected a torch.nn.Linear")
            expect_tensor(value["weight"], expected["weight"], f"{what}: .weight (torch stores [out_features, "
                          f"in_features], the transpose of yours)", rtol=0, atol=1e-7)
            expect_optional(value["bias"], expected["bias"], f"{what}: .bias",
                            partial(expect_tensor, rtol=0, atol=1e-7))
            expect_tensor(value["outputs"], expected["outputs"], f"{what}: outputs on a batch of 3 inputs")
