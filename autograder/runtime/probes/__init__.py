"""Probes: small functions the worker runs on the student's module to extract plain data.

A probe takes the student's module and keyword arguments of plain data (numbers, lists, tensors) and
returns plain data. It never decides whether the answer is right: the judge does that, outside the
sandbox, by running the same probe on the reference solution.
"""

from __future__ import annotations

from typing import Any, Callable

from . import common, linear

PROBES: dict[str, Callable[..., Any]] = {
    "call": common.call,
    "modules_loaded": common.modules_loaded,
    "linear.construct": linear.construct,
    "linear.forward": linear.forward,
    "linear.from_torch": linear.from_torch,
    "linear.to_torch": linear.to_torch,
}
