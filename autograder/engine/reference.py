"""Run probes on the reference solution, in the grading process (the reference is trusted code).

The reference package is imported under a private name so it can never be confused with, or shadowed
by, a student's ``lora_lab``. Arguments and results make the same JSON/safetensors round trip as the
student's, so both sides of every comparison have exactly the same form.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from ..core.model import Outcome, ProbeCall
from ..runtime import transport
from ..runtime.probes import get_probe
from ..runtime.worker import describe_exception
from ..sandbox.bound import SECRET, secret_inputs, write_new
from ..sandbox.watch import WatchedInputs


def _round_trip(value: Any) -> Any:
    structure, tensors = transport.encode(value)
    return transport.decode(structure, tensors)


class Reference:
    """The reference solution of one assignment, imported once and probed on demand."""

    def __init__(self, solution: Path, package: str) -> None:
        self.solution = solution
        self.package = package
        self.alias = f"_reference_{package}"
        if self.alias not in sys.modules:
            parent = types.ModuleType(self.alias)
            parent.__path__ = [str(solution / package)]
            sys.modules[self.alias] = parent

    def module(self, name: str) -> types.ModuleType:
        return importlib.import_module(f"{self.alias}.{name}")

    def run(self, module_name: str, calls: list[ProbeCall]) -> list[Outcome]:
        """One outcome per call; calls with ``inputs`` get their files and counted opens as the student's do.
        A bounded call gets its secret inputs at once: the reference is trusted, and is not limited."""
        with tempfile.TemporaryDirectory(prefix="lora-reference-") as tmp:
            inputs = WatchedInputs(calls, Path(tmp))
            inputs.start()
            outcomes: list[Outcome] = []
            for index, call in enumerate(calls):
                args = inputs.args(index, call.args)
                if call.bounded:
                    (Path(tmp) / f"bound{index:04d}").mkdir()
                    write_new(Path(tmp), SECRET, secret_inputs(call), f"bound{index:04d}")
                    args = {**args, "inputs": str(Path(tmp) / f"bound{index:04d}")}
                try:
                    value = get_probe(call.probe)(self.module(call.module or module_name), **_round_trip(args))
                    outcomes.append(Outcome(ok=True, value=_round_trip(value)))
                except Exception as error:  # noqa: BLE001 - recorded; checks expecting errors rely on it
                    outcomes.append(Outcome(ok=False, error=describe_exception(error, self.solution)))
            inputs.observe(outcomes)
        return outcomes
