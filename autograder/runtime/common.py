"""Generic probes that call a function of the student's module."""

from __future__ import annotations

import copy
import math
import sys
import time
from pathlib import Path
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


def await_inputs(inputs: str, request: str | None, seconds: float = 60.0) -> Any:
    """The secret inputs of a bounded call (``ProbeCall.bounded``) in ``inputs``: at once when they are there
    (the reference), else after asking for them through ``request`` and waiting for the grader, which
    first measures (and may limit) every process of the worker from outside."""
    from . import transport

    folder = Path(inputs)
    if request is not None and not (folder / "secret.json").exists():
        Path(request).write_text("inputs, please\n")
        deadline = time.monotonic() + seconds
        while not (folder / "secret.json").exists():
            if (folder / "refused.json").exists():
                raise RuntimeError(f"the grader could not measure this process: {transport.read(folder / 'refused')}")
            if time.monotonic() > deadline:
                raise RuntimeError("the grader did not answer the request for the inputs")
            time.sleep(0.02)
    return transport.read(folder / "secret", max_bytes=4 * 1024 * 1024)


def secret_calls(secret: list, **_: Any) -> dict:
    """Grader side (``ProbeCall.bounded`` of :func:`pure_calls`): the calls handed over only once the
    grader has seen what the worker maps."""
    return {"calls": secret}


@returns({"loaded": [str], "failed": [str]})
def pure_calls(module: Any, names: list[str], calls: list[list], inputs: str, request: str | None = None) -> dict:
    """Call each ``[function, args]`` of ``calls``, then ask the grader for more calls (it reads which
    packages this process maps meanwhile, ``Outcome.observed["grant"]["packages"]``) and run those; report
    which of the modules ``names`` this process has imported (a claim) and which calls raised."""
    failed = []

    def run(function: str, args: list) -> Any:
        try:
            return getattr(module, function)(*copy.deepcopy(args))
        except Exception as error:  # noqa: BLE001 - reported with its message (a stub's TODO); other checks judge it
            failed.append(f"{function}: {type(error).__name__}({str(error)[:120]!r})")
            return None

    for function, args in calls:
        run(function, args)
    given = await_inputs(inputs, request)
    for function, args in given["calls"]:
        run(function, args)
    return {"loaded": sorted(name for name in names if name in sys.modules), "failed": failed}


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
