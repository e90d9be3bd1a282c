"""Judging helpers: compare a student's plain data with the reference and explain any difference.

Every helper raises :class:`~autograder.core.model.Fail` with a message that names the call, what was
expected and what came back, in terms a student understands.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

from ..runtime.transport import UNSUPPORTED_KEY
from ..core.model import Claim, Fail, Outcome, ProbeCall


def fmt_number(value: float) -> str:
    """Numbers as a student would write them: ``0.0`` stays a float, long decimals are shortened."""
    if isinstance(value, float):
        return repr(value) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return str(value)


def fmt_value(value: Any, limit: int = 8) -> str:
    """A short, readable rendering of plain data for feedback."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= limit:
            return f"tensor({[round(float(v), 6) for v in value.flatten()]}) of shape {list(value.shape)}"
        return f"a tensor of shape {list(value.shape)}"
    if isinstance(value, list):
        shape = nested_shape(value)
        if shape and math.prod(shape) > limit:
            return f"a {'x'.join(map(str, shape))} nested list"
        return "[" + ", ".join(fmt_value(v, limit) for v in value) + "]"
    if isinstance(value, dict) and UNSUPPORTED_KEY in value:
        return f"a {value[UNSUPPORTED_KEY]} object"
    return fmt_number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def nested_shape(value: Any) -> tuple[int, ...] | None:
    """Shape of a rectangular nested list of numbers, or ``None`` when ragged or not numbers."""
    if isinstance(value, list):
        if not value:
            return (0,)
        inner = [nested_shape(v) for v in value]
        if any(s is None for s in inner) or len(set(inner)) != 1:
            return None
        return (len(value),) + (inner[0] or ())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ()
    return None


def describe_type(value: Any) -> str:
    if isinstance(value, dict) and UNSUPPORTED_KEY in value:
        return f"a {value[UNSUPPORTED_KEY]}"
    if isinstance(value, torch.Tensor):
        if type(value) is not torch.Tensor:
            return f"a {type(value).__name__}, a subclass of torch.Tensor (return a plain tensor)"
        return f"a tensor of shape {list(value.shape)}"
    if isinstance(value, list):
        shape = nested_shape(value)
        return f"a {'x'.join(map(str, shape))} list" if shape else "a ragged list"
    return f"{type(value).__name__} {fmt_value(value)}"


def result_of(outcome: Outcome, what: str) -> Any:
    """The probe's value; :class:`Fail` explaining why there is none (error, crash, timeout)."""
    if outcome.missing:
        raise Fail(f"{what}: {outcome.missing}")
    if not outcome.ok:
        error = outcome.error or {}
        where = f" (at {error['where']})" if error.get("where") else ""
        if error.get("type") == "NotImplementedError":
            raise Fail(f"{what} is not implemented yet: {error.get('message', '')}{where}")
        raise Fail(f"{what} raised {error.get('type')}: {error.get('message', '')}{where}")
    return outcome.value


def close(got: float, want: float, rtol: float, atol: float) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    return abs(got - want) <= atol + rtol * abs(want)


def expect_number(got: Any, want: float, what: str, rtol: float = 1e-6, atol: float = 1e-9,
                  kind: type = float) -> None:
    """``got`` must be a Python number close to ``want`` (an ``int`` when ``kind`` is ``int``)."""
    allowed = (int,) if kind is int else (int, float)
    if isinstance(got, bool) or not isinstance(got, allowed):
        hint = " (use .item() to turn a one-element tensor into a number)" if isinstance(got, torch.Tensor) else ""
        raise Fail(f"{what}: expected a Python {kind.__name__}, got {describe_type(got)}{hint}")
    if not close(float(got), float(want), rtol, atol):
        raise Fail(f"{what}: got {fmt_number(got)}, expected {fmt_number(want)}")


def expect_nested(got: Any, want: Any, what: str, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    """``got`` must be nested Python lists with the shape of ``want`` and close entries."""
    want_shape = nested_shape(want)
    got_shape = nested_shape(got)
    if want_shape is None:
        raise AssertionError(f"reference value for {what} is not a rectangular list")
    if got_shape != want_shape:
        expected = "x".join(map(str, want_shape)) or "number"
        raise Fail(f"{what}: expected a {expected} list of lists of numbers, got {describe_type(got)}")

    def walk(g: Any, w: Any, path: str) -> None:
        if isinstance(w, list):
            for index, (gi, wi) in enumerate(zip(g, w)):
                walk(gi, wi, f"{path}[{index}]")
        elif not close(float(g), float(w), rtol, atol):
            raise Fail(f"{what}: entry {path} is {fmt_number(g)}, expected {fmt_number(w)}")

    walk(got, want, "")


def expect_tensor(got: Any, want: torch.Tensor, what: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """``got`` must be a plain tensor (not a subclass) of ``want``'s shape and kind of dtype (any floating
    dtype where ``want`` is floating, ``want``'s dtype otherwise), finite where ``want`` is, and close."""
    if type(got) is not torch.Tensor:  # the transport only ever builds plain tensors; this is the last line
        raise Fail(f"{what}: expected a torch tensor of shape {list(want.shape)}, got {describe_type(got)}")
    if tuple(got.shape) != tuple(want.shape):
        raise Fail(f"{what}: expected shape {list(want.shape)}, got {list(got.shape)}")
    if want.is_floating_point() and not got.is_floating_point():
        raise Fail(f"{what}: expected a floating-point tensor, got dtype {got.dtype}")
    if not want.is_floating_point() and got.dtype != want.dtype:
        raise Fail(f"{what}: expected a tensor of dtype {want.dtype}, got dtype {got.dtype}")
    got64, want64 = got.double(), want.double()
    if bool(torch.isfinite(want64).all()) and not bool(torch.isfinite(got64).all()):
        raise Fail(f"{what}: your result contains NaN or infinity")
    difference = (got64 - want64).abs()
    allowed = atol + rtol * want64.abs()
    if bool((difference > allowed).any()):
        index = tuple(int(i) for i in torch.nonzero(difference > allowed)[0])
        raise Fail(f"{what}: entry {list(index)} is {got64[index].item():.6g}, expected {want64[index].item():.6g} "
                   f"(largest difference {difference.max().item():.3g})")


def expect_raises(outcome: Outcome, error_type: str, what: str) -> str:
    """The probe must have raised ``error_type``; returns its message for further checks."""
    if outcome.missing:
        raise Fail(f"{what}: {outcome.missing}")
    if outcome.ok:
        value = outcome.value.get("result") if isinstance(outcome.value, dict) else outcome.value
        raise Fail(f"{what} should raise {error_type}, but it returned {fmt_value(value)}")
    error = outcome.error or {}
    if error.get("type") == "NotImplementedError":
        raise Fail(f"{what} is not implemented yet: {error.get('message', '')}")
    if error.get("type") != error_type:
        raise Fail(f"{what} should raise {error_type}, but it raised {error.get('type')}: {error.get('message', '')}")
    return error.get("message", "")


def expect_untouched(mutated: Sequence[int], names: Sequence[str], what: str) -> None:
    """None of the positional arguments may have been modified in place. Whether they were is reported by
    the worker (a claim, see SECURITY.md): call this once every value of the check has been compared."""
    if mutated:
        changed = ", ".join(names[i] if i < len(names) else f"argument {i}" for i in mutated)
        raise Claim(f"{what} modified its input {changed} in place; build and return a new list instead")


def reference_value(outcome: Outcome, what: str) -> Any:
    """The reference's value for a probe; a grader bug (not the student's fault) when it has none."""
    if not outcome.ok:
        raise RuntimeError(f"the reference solution failed on {what}: {outcome.error or outcome.missing}")
    return outcome.value


def field(value: Any, name: str, what: str) -> Any:
    """``value[name]`` from a probe's result dict; a clear failure when the sandbox sent something else."""
    if not isinstance(value, dict) or name not in value:
        raise Fail(f"{what}: the grader could not read your result (malformed data from the sandbox)")
    return value[name]


def compare_calls(calls: Sequence[ProbeCall], got: Sequence[Outcome], want: Sequence[Outcome],
                  describe: Callable[[ProbeCall], str], expect: Callable[[Any, Any, str], None],
                  names: Sequence[str] = ()) -> None:
    """For each ``call`` probe: ``expect(student result, reference result, what)`` must hold, and when
    ``names`` (of the positional arguments) are given, no argument may have been modified (checked once
    every result has been compared: it is a claim of the worker)."""
    touched = []
    for call, student, reference in zip(calls, got, want, strict=True):
        what = describe(call)
        value = result_of(student, what)
        expect(field(value, "result", what), reference_value(reference, what)["result"], what)
        touched.append((field(value, "mutated", what), what))
    for mutated, what in touched if names else ():
        expect_untouched(mutated, names, what)


def expect_optional(got: Any, want: Any, what: str, expect: Callable[[Any, Any, str], None]) -> None:
    """Like ``expect`` when the reference has a value; ``got`` must be ``None`` when it has none."""
    if want is None:
        if got is not None:
            raise Fail(f"{what} should be None, got {describe_type(got)}")
    else:
        expect(got, want, what)
