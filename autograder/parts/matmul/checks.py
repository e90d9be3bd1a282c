"""Hidden checks of part ``matmul``: ``matrix_multiply``, ``add_bias`` and ``relu``."""

from __future__ import annotations

import re

from ...core.model import Check, Claim, Fail, ProbeCall, register
from ..compare import compare_calls, expect_nested, expect_raises, field, fmt_value, result_of
from ..inputs import random_matrix
from ...runtime import common


def describe_call(call: ProbeCall, names: tuple[str, ...]) -> str:
    args = call.args["args"]
    shown = " and ".join(f"{name} = {fmt_value(arg, limit=12)}" for name, arg in zip(names, args))
    return f"{call.args['function']}({', '.join(names)}) with {shown}"


class ValueCheck(Check):
    """Calls one function on several inputs; the results must match the reference, inputs untouched."""

    function: str
    names: tuple[str, ...]

    def judge(self, calls, got, want):
        compare_calls(calls, got, want, lambda call: describe_call(call, self.names), expect_nested, self.names)


def multiply(A: list, B: list) -> ProbeCall:
    return ProbeCall(common.call, {"function": "matrix_multiply", "args": [A, B]})


@register
class Square(ValueCheck):
    id = "square"
    title = "matrix_multiply on square matrices"
    names = ("A", "B")

    def plan(self, rng):
        n = rng.randint(4, 6)
        return [multiply([[2.0]], [[-3.5]]),
                multiply(random_matrix(rng, 3, 3), random_matrix(rng, 3, 3)),
                multiply(random_matrix(rng, n, n), random_matrix(rng, n, n))]


@register
class Rectangular(ValueCheck):
    id = "rectangular"
    title = "matrix_multiply on non-square matrices (n x m times m x p)"
    names = ("A", "B")

    def plan(self, rng):
        n, m, p = rng.sample(range(2, 8), 3)
        return [multiply(random_matrix(rng, 2, 5), random_matrix(rng, 5, 3)),
                multiply(random_matrix(rng, 1, 4), random_matrix(rng, 4, 1)),
                multiply(random_matrix(rng, 4, 1), random_matrix(rng, 1, 3)),
                multiply(random_matrix(rng, n, m), random_matrix(rng, m, p))]


def names_shape(message: str, rows: int, columns: int) -> bool:
    """Whether an error message names the shape ``rows x columns`` in any common notation."""
    text = re.sub(r"[\[\]()]", " ", message)
    return re.search(rf"(?<!\d){rows}\s*(?:x|×|,|by|\*)\s*{columns}(?!\d)", text) is not None


@register
class InvalidShapes(Check):
    id = "invalid_shapes"
    title = "matrix_multiply rejects mismatched, empty and ragged matrices with ValueError"

    def plan(self, rng):
        n, m, m2, p = rng.sample(range(2, 10), 4)
        return [multiply(random_matrix(rng, n, m), random_matrix(rng, m2, p)),
                multiply([], random_matrix(rng, 2, 2)),
                multiply(random_matrix(rng, 2, 3), [[1.0, 2.0], [3.0], [4.0, 5.0]])]

    def judge(self, calls, got, want):
        (mismatch, empty, ragged) = calls
        A, B = mismatch.args["args"]
        shapes = (len(A), len(A[0]), len(B), len(B[0]))
        what = f"matrix_multiply(A, B) with A of shape {shapes[0]}x{shapes[1]} and B of shape {shapes[2]}x{shapes[3]}"
        message = expect_raises(got[0], "ValueError", what)
        if not (names_shape(message, *shapes[:2]) and names_shape(message, *shapes[2:])):
            raise Fail(f"{what} raised ValueError({message!r}); the message should name both shapes, "
                       f"e.g. '{shapes[0]}x{shapes[1]}' and '{shapes[2]}x{shapes[3]}', so the caller sees what went wrong")
        expect_raises(got[1], "ValueError", "matrix_multiply(A, B) with an empty A = []")
        expect_raises(got[2], "ValueError", f"matrix_multiply(A, B) with a ragged B = {fmt_value(ragged.args['args'][1])}")


@register
class AddBias(ValueCheck):
    id = "add_bias"
    title = "add_bias adds bias[j] to column j, returns a new matrix, rejects a wrong-length bias"
    names = ("matrix", "bias")

    def plan(self, rng):
        rows, columns = rng.randint(2, 5), rng.randint(2, 5)
        bias = [round(rng.uniform(-2, 2), 3) for _ in range(columns)]
        return [ProbeCall(common.call, {"function": "add_bias", "args": [random_matrix(rng, rows, columns), bias]}),
                ProbeCall(common.call, {"function": "add_bias", "args": [[[1.0, 2.0, 3.0]], [10.0, 20.0, 30.0]]}),
                ProbeCall(common.call, {"function": "add_bias", "args": [random_matrix(rng, 2, columns), bias + [1.0]]})]

    def judge(self, calls, got, want):
        claim = None
        try:
            super().judge(calls[:2], got[:2], want[:2])
        except Claim as modified:   # an input modified in place: said once everything else is compared
            claim = modified
        matrix, bias = calls[2].args["args"]
        expect_raises(got[2], "ValueError",
                      f"add_bias(matrix, bias) with a 2x{len(matrix[0])} matrix and a bias of length {len(bias)}")
        if claim:
            raise claim


@register
class Relu(ValueCheck):
    id = "relu"
    title = "relu sets negative entries to 0 and returns a new matrix"
    names = ("matrix",)

    def plan(self, rng):
        return [ProbeCall(common.call, {"function": "relu", "args": [[[-1.5, 0.0, 2.25], [3.0, -0.001, -7.0]]]}),
                ProbeCall(common.call, {"function": "relu", "args": [random_matrix(rng, rng.randint(3, 6), rng.randint(3, 6))]})]


@register
class PurePython(Check):
    id = "pure_python"
    title = "part 1 uses plain Python lists and loops: no numpy, no torch"

    FORBIDDEN = ["numpy", "torch", "scipy", "pandas", "jax", "tensorflow"]

    def plan(self, rng):
        A, B = random_matrix(rng, 2, 3), random_matrix(rng, 3, 2)
        # the functions run on these, then the probe asks for more calls: the grader first reads which
        # packages every process of the worker maps (from outside), then hands over ``secret``
        C, D = random_matrix(rng, 3, 4), random_matrix(rng, 4, 2)
        return [ProbeCall(common.pure_calls, {"names": self.FORBIDDEN, "calls": [
            ["matrix_multiply", [A, B]], ["add_bias", [A, [1.0, 2.0, 3.0]]], ["relu", [A]]]},
            context={"secret": [["matrix_multiply", [C, D]], ["relu", [C]]]}, bounded=common.secret_calls)]

    def judge(self, calls, got, want):
        what = "importing lora_lab/matmul.py and calling its functions"
        value = result_of(got[0], what)
        failed, used = field(value, "failed", what), field(value, "loaded", what)
        if failed:
            raise Fail(f"this check needs working functions first ({', '.join(map(str, failed))}); it then "
                       f"verifies that they use plain Python only")
        grant = (got[0].observed or {}).get("grant")
        if not grant or not grant.get("granted"):   # observed by the grading process, not reported by the worker
            why = grant["why"] if grant else "the probe never asked for its inputs"
            raise Fail(f"{what}: the grader could not see which libraries your code loaded ({why}); do not "
                       f"change how the grader's probe runs")
        mapped = sorted(set(self.FORBIDDEN) & set(grant.get("packages", [])))
        if mapped:   # measured from outside: the worker's processes map these packages' files
            raise Fail(self.uses(mapped))
        if used:   # only the worker says so (imported after the grader looked): a claim (SECURITY.md)
            raise Claim(self.uses(used))

    @staticmethod
    def uses(modules: list) -> str:
        return (f"lora_lab/matmul.py uses {', '.join(map(str, modules))}; part 1 must work on plain Python lists "
                f"with loops or comprehensions, so that the arithmetic of a layer is yours (torch comes in part 2)")
