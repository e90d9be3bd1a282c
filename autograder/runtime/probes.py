"""Probes: small functions the worker runs on the student's module to extract plain data.

A probe takes the student's module and keyword arguments of plain data (numbers, lists, tensors) and
returns plain data. It never decides whether the answer is right: the judge does that, outside the
sandbox, by running the same probe on the reference solution.

A probe is named ``"<part>.<function>"``, a function of ``autograder/parts/<part>/probes.py``, or just
``"<function>"`` for one of :mod:`.common`. The parts that have probes are the folders holding a
``probes.py`` (the sandbox copies exactly those files next to this runtime, see
``sandbox.policy.worker_code``); nothing else is importable by name. Probe modules are imported on first
use, so a part whose probes need no torch never imports it (part 1 checks that the student's code does
not either).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

# The form of what a probe returns (its envelope), declared with :func:`returns` and checked by the grading
# process against the reference's outcome for the same call before any judge runs
# (``core.envelope``); the worker's copy of a probe, which the student's code may replace, declares nothing
# the grader reads.
VALUE = "value"   # a value the student's code returned, of any form: the judge compares it (``parts.compare``)
ITEMS = "items"   # a list of such values, one per item of the call's input: exactly as long as the reference's
# "autograder" in the grading process, the copy's package ("grader_runtime") in the worker
_ROOT = __name__.split(".")[0]
PARTS_DIR = Path(__file__).resolve().parent.parent / "parts"
COMMON = "common"


def returns(envelope: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare what a probe returns: a dict of exactly these keys, each a :data:`VALUE`, :data:`ITEMS`, an
    exact type (``bool``, ``int``, ``float``, ``str``; ``None`` for ``None``) or a tuple of them, ``[form]``
    (a list of any length whose items have that form), or a dict of the same kind. A probe that declares
    nothing must return a dict with the reference's keys when the reference's is a dict."""
    def declare(probe: Callable[..., Any]) -> Callable[..., Any]:
        probe.envelope = envelope   # type: ignore[attr-defined]
        return probe
    return declare


def probe_parts() -> frozenset[str]:
    """The parts that have probes: every folder of ``parts/`` with a ``probes.py``."""
    return frozenset(path.parent.name for path in PARTS_DIR.glob("*/probes.py"))


def get_probe(name: str) -> Callable[..., Any]:
    """The probe called ``name``: ``"<part>.<function>"`` of that part's probes, or a function of ``common``."""
    module, _, function = name.rpartition(".")
    if not function.isidentifier() or function.startswith("_") or (module and module not in probe_parts()):
        raise KeyError(f"unknown probe {name!r}")
    path = f"{__package__}.{COMMON}" if not module else f"{_ROOT}.parts.{module}.probes"
    probes = importlib.import_module(path)
    probe = getattr(probes, function, None)
    if not callable(probe) or getattr(probe, "__module__", None) != probes.__name__:  # its own functions only
        raise KeyError(f"unknown probe {name!r}")
    return probe


def probe_name(probe: Callable[..., Any]) -> str:
    """The name :func:`get_probe` finds ``probe`` by (a check names its probes by the functions themselves)."""
    module = probe.__module__.split(".")
    return probe.__name__ if module[-1] == COMMON else f"{module[-2]}.{probe.__name__}"
