"""The hidden checks, one module per part, registered by id (``"<part>/<name>"``).

These modules stay in the grading process: they are never copied into the sandbox or the student
release. Importing this package imports every check module so the registry is complete.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import CHECKS, Check, Fail, Outcome, ProbeCall, Verdict

_HELPERS = {"base", "compare", "inputs", "passages"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _HELPERS:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["CHECKS", "Check", "Fail", "Outcome", "ProbeCall", "Verdict"]
