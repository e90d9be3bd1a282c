"""Probes: small functions the worker runs on the student's module to extract plain data.

A probe takes the student's module and keyword arguments of plain data (numbers, lists, tensors) and
returns plain data. It never decides whether the answer is right: the judge does that, outside the
sandbox, by running the same probe on the reference solution.

Probe modules are imported on first use, so a part whose probes need no torch never imports it (part 1
checks that the student's code does not either).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

_MODULES = {"call": "common", "modules_loaded": "common"}


def get_probe(name: str) -> Callable[..., Any]:
    """The probe called ``name``: ``"<module>.<function>"`` in this package, or a function of ``common``."""
    module, _, function = name.rpartition(".")
    if not module:
        module, function = _MODULES[name], name
    if not function.isidentifier() or function.startswith("_") or module not in {"common", "linear", "lora", "finetune", "service"}:
        raise KeyError(f"unknown probe {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)
