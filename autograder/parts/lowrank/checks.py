"""Hidden checks of part ``lowrank``: SVD truncation, its error, rank choice and compression."""

from __future__ import annotations

import random
from functools import partial

import torch

from ...core.model import Check, Fail, ProbeCall, register
from ..compare import (compare_calls, expect_number, expect_raises, expect_tensor, expect_untouched, field,
                      fmt_value, reference_value, result_of)
from ..inputs import torch_generator
from ...runtime import common


def matrix_with_spectrum(rng: random.Random, d: int, k: int, singular_values: list[float]) -> torch.Tensor:
    """A float32 ``d x k`` matrix with exactly the given singular values (well separated, so the
    truncated SVD is unique up to signs) and random singular vectors."""
    generator = torch_generator(rng)
    r = len(singular_values)
    U, _ = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(k, r, generator=generator, dtype=torch.float64))
    return (U * torch.tensor(singular_values, dtype=torch.float64) @ V.T).float()


def random_spectrum(rng: random.Random, count: int) -> list[float]:
    """Decreasing singular values, each at least 30% below the previous one."""
    values, current = [], rng.uniform(8, 12)
    for _ in range(count):
        values.append(round(current, 3))
        current *= rng.uniform(0.35, 0.7)
    return values


def call(function: str, *args) -> ProbeCall:
    return ProbeCall(common.call, {"function": function, "args": list(args)})


def shape_text(W: torch.Tensor) -> str:
    return "x".join(map(str, W.shape))


@register
class Factors(Check):
    id = "factors"
    title = "low_rank_factors returns A = U_r S_r (d x r) and B = Vh_r (r x k) whose product is the best rank-r approximation"

    def plan(self, rng):
        d, k = rng.sample(range(5, 10), 2)
        W = matrix_with_spectrum(rng, d, k, random_spectrum(rng, min(d, k)))
        return [call("low_rank_factors", W, 1), call("low_rank_factors", W, 2),
                call("low_rank_factors", W, rng.randint(3, min(d, k)))]

    def judge(self, calls, got, want):
        touched = []
        for probe, student, reference in zip(calls, got, want, strict=True):
            W, r = probe.args["args"]
            d, k = W.shape
            what = f"low_rank_factors(W, r={r}) on a {d}x{k} W"
            value = result_of(student, what)
            factors = field(value, "result", what)
            if not isinstance(factors, list) or len(factors) != 2:
                raise Fail(f"{what}: expected a pair (A, B), got {fmt_value(factors)}")
            A, B = factors
            for name, tensor, shape in (("A", A, [d, r]), ("B", B, [r, k])):
                if not isinstance(tensor, torch.Tensor) or list(tensor.shape) != shape:
                    got_shape = list(tensor.shape) if isinstance(tensor, torch.Tensor) else fmt_value(tensor)
                    raise Fail(f"{what}: {name} should have shape {shape}, got {got_shape}")
            A_ref, B_ref = reference_value(reference, what)["result"]
            expect_tensor(B.double() @ B.double().T, torch.eye(r, dtype=torch.float64),
                          f"{what}: B @ B.T (the rows of B are the first r rows of Vh, which are orthonormal)",
                          rtol=0, atol=1e-4)
            expect_tensor(A.double() @ B.double(), A_ref.double() @ B_ref.double(),
                          f"{what}: A @ B (the best rank-{r} approximation; A must be U_r scaled by S_r)",
                          rtol=1e-4, atol=1e-4)
            touched.append((field(value, "mutated", what), what))
        for mutated, what in touched:   # a claim of the worker, said once every value is compared
            expect_untouched(mutated, ("W", "r"), what)


@register
class InvalidRank(Check):
    id = "invalid_rank"
    title = "low_rank_factors raises ValueError for r < 1 and r > min(d, k), accepts r = min(d, k)"

    def plan(self, rng):
        d, k = rng.sample(range(3, 8), 2)
        W = matrix_with_spectrum(rng, d, k, random_spectrum(rng, min(d, k)))
        return [call("low_rank_factors", W, 0), call("low_rank_factors", W, min(d, k) + 1),
                call("low_rank_factors", W, min(d, k))]

    def judge(self, calls, got, want):
        W = calls[0].args["args"][0]
        d, k = W.shape
        expect_raises(got[0], "ValueError", f"low_rank_factors(W, r=0) on a {d}x{k} W")
        expect_raises(got[1], "ValueError", f"low_rank_factors(W, r={min(d, k) + 1}) on a {d}x{k} W "
                                            f"(the rank can be at most min(d, k) = {min(d, k)})")
        what = f"low_rank_factors(W, r={min(d, k)}) on a {d}x{k} W (full rank is allowed)"
        factors = field(result_of(got[2], what), "result", what)
        if not isinstance(factors, list) or len(factors) != 2:
            raise Fail(f"{what}: expected a pair (A, B), got {fmt_value(factors)}")
        A, B = factors
        r = min(d, k)
        if not isinstance(A, torch.Tensor) or not isinstance(B, torch.Tensor) or \
                list(A.shape) != [d, r] or list(B.shape) != [r, k]:
            raise Fail(f"{what}: expected tensors A of shape {[d, r]} and B of shape {[r, k]}, got "
                       f"{fmt_value(A)} and {fmt_value(B)}")
        expect_tensor(A.double() @ B.double(), W.double(), f"{what}: A @ B should equal W", rtol=1e-4, atol=1e-4)


@register
class Approx(Check):
    id = "approx"
    title = "low_rank_approx returns the best rank-r approximation A @ B"

    def plan(self, rng):
        d, k = rng.sample(range(4, 10), 2)
        W = matrix_with_spectrum(rng, d, k, random_spectrum(rng, min(d, k)))
        return [call("low_rank_approx", W, 1), call("low_rank_approx", W, rng.randint(2, min(d, k) - 1))]

    def judge(self, calls, got, want):
        compare_calls(calls, got, want,
                      lambda probe: f"low_rank_approx(W, r={probe.args['args'][1]}) on a {shape_text(probe.args['args'][0])} W",
                      partial(expect_tensor, rtol=1e-4, atol=1e-4), names=("W", "r"))


@register
class RelativeError(Check):
    id = "relative_error"
    title = "relative_error is ||W - W_approx||_F / ||W||_F as a Python float"

    def plan(self, rng):
        generator = torch_generator(rng)
        d, k = rng.sample(range(3, 9), 2)
        W = torch.randn(d, k, generator=generator) * rng.uniform(0.5, 4)
        noisy = W + 0.1 * torch.randn(d, k, generator=generator)
        return [call("relative_error", W, noisy), call("relative_error", W, torch.zeros(d, k)),
                call("relative_error", W, W.clone())]

    def judge(self, calls, got, want):
        def describe(probe: ProbeCall) -> str:
            W, W_approx = probe.args["args"]
            if not W_approx.any():
                case = "W and a zero matrix (the answer is 1)"
            elif torch.equal(W, W_approx):
                case = "W and an identical copy (the answer is 0)"
            else:
                case = "W and a noisy copy of W"
            return f"relative_error(W, W_approx) on {case}, W of shape {shape_text(W)}"

        compare_calls(calls, got, want, describe, partial(expect_number, rtol=1e-4, atol=1e-6), names=("W", "W_approx"))


@register
class RankForEnergy(Check):
    id = "rank_for_energy"
    title = "rank_for_energy finds the smallest r keeping the requested share of squared singular values"

    def plan(self, rng):
        probes = []
        for spectrum in ([8.0, 4.0, 2.0, 1.0, 0.5], random_spectrum(rng, 6)):
            W = matrix_with_spectrum(rng, len(spectrum) + 2, len(spectrum), spectrum)
            squares = [s * s for s in spectrum]
            shares = [sum(squares[:i + 1]) / sum(squares) for i in range(len(squares))]
            # Ask for energies halfway between attainable shares, so rounding never decides the answer.
            targets = [shares[0] / 2] + [(a + b) / 2 for a, b in zip(shares, shares[1:])] + [1.0]
            for energy in rng.sample(targets, 4) + [1.0]:
                probes.append(call("rank_for_energy", W, round(energy, 6)))
        return probes

    def judge(self, calls, got, want):
        def describe(probe: ProbeCall) -> str:
            W, energy = probe.args["args"]
            spectrum = [round(s, 3) for s in torch.linalg.svdvals(W.double()).tolist()]
            return (f"rank_for_energy(W, energy={energy}) on a W with singular values {spectrum} (share of "
                    f"energy = sum of the first r squared singular values / sum of all squares)")

        compare_calls(calls, got, want, describe, partial(expect_number, rtol=0, atol=0, kind=int))


@register
class CompressionRatio(Check):
    id = "compression_ratio"
    title = "compression_ratio is d*k / (r*(d+k))"

    def plan(self, rng):
        return [call("compression_ratio", 4096, 4096, 8), call("compression_ratio", 768, 3072, 16),
                call("compression_ratio", rng.randint(10, 500), rng.randint(10, 500), rng.randint(1, 9))]

    def judge(self, calls, got, want):
        compare_calls(calls, got, want, lambda probe: "compression_ratio(d={}, k={}, r={})".format(*probe.args["args"]),
                      partial(expect_number, rtol=1e-9, atol=0))
