"""Hidden checks of part ``transpose``: ``transpose`` on seeded matrices."""

from __future__ import annotations

from ...core.model import Check, ProbeCall, register
from ...runtime import common
from ..compare import compare_calls, expect_nested, fmt_value
from ..inputs import random_matrix


def transpose(matrix: list) -> ProbeCall:
    return ProbeCall(common.call, {"function": "transpose", "args": [matrix]})


def describe(call: ProbeCall) -> str:
    return f"transpose(matrix) with matrix = {fmt_value(call.args['args'][0], limit=12)}"


@register
class Values(Check):
    id = "values"
    title = "transpose of square and rectangular matrices"

    def plan(self, rng):
        return [transpose(random_matrix(rng, 2, 3)), transpose(random_matrix(rng, 4, 4)),
                transpose(random_matrix(rng, 1, rng.randint(2, 5)))]

    def judge(self, calls, got, want):
        compare_calls(calls, got, want, describe, expect_nested)


@register
class Untouched(Check):
    id = "untouched"
    title = "transpose returns new lists and leaves its input as it was"

    def plan(self, rng):
        return [transpose(random_matrix(rng, 3, 2))]

    def judge(self, calls, got, want):
        compare_calls(calls, got, want, describe, expect_nested, ("matrix",))
