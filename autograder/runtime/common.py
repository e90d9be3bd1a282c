"""Generic probes that call a function of the student's module."""

from __future__ import annotations

import copy
import math
import sys
from typing import Any

from .probes import VALUE, returns


def same(a: Any, b: Any) -> bool:
    """Structural equality of plain data and tensors; NaN equals NaN. Used to detect mutated inputs."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(a, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return a == b


@returns({"result": VALUE, "mutated": [int]})
def call(module: Any, function: str, args: list | tuple = (), kwargs: dict | None = None) -> dict:
    """Call ``module.function(*args, **kwargs)`` on copies of the arguments.

    Returns ``{"result": <return value>, "mutated": [indices of positional arguments it modified]}``.
    """
    target = getattr(module, function)
    call_args = copy.deepcopy(list(args))
    call_kwargs = copy.deepcopy(dict(kwargs or {}))
    snapshot = copy.deepcopy(call_args)
    result = target(*call_args, **call_kwargs)
    mutated = [index for index, (now, before) in enumerate(zip(call_args, snapshot)) if not same(now, before)]
    return {"result": result, "mutated": mutated}


@returns({"loaded": [str], "failed": [str]})
def modules_loaded(module: Any, names: list[str], calls: list[list]) -> dict:
    """Call each ``[function, args]``, then report which of the modules ``names`` this process has
    imported (e.g. whether pure-Python code used numpy) and which calls raised."""
    failed = []
    for function, args in calls:
        try:
            getattr(module, function)(*copy.deepcopy(args))
        except Exception as error:  # noqa: BLE001 - reported with its message (a stub's TODO); other checks judge it
            failed.append(f"{function}: {type(error).__name__}({str(error)[:120]!r})")
    return {"loaded": sorted(name for name in names if name in sys.modules), "failed": failed}
