"""Sandbox worker: import one module of the student's package and run a list of probes on it.

Started by :mod:`autograder.sandbox` with ``main(WORKDIR)``, as ``grader_runtime.runtime.worker`` (``sandbox.policy.worker_code``). Reads ``WORKDIR/job.json``
(plus ``job.safetensors``), writes ``WORKDIR/out/import.json`` once the module is imported, then one
``WORKDIR/out/NNNN.json`` per probe, each as soon as it finishes, so a crash loses only the probe that
was running. The grading process trusts none of this: it validates every file it reads back.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
import types
from pathlib import Path

MAX_MESSAGE = 600


def describe_exception(error: BaseException, submission_root: Path) -> dict:
    """A student-facing description of ``error``: type, message and where in their code it happened."""
    if isinstance(error, SystemExit):
        message = f"your code called sys.exit({error.code!r})"
    elif isinstance(error, SyntaxError):
        message = str(error.msg)
    else:
        try:
            message = str(error)
        except Exception:  # noqa: BLE001 - a student exception whose __str__ itself fails
            message = "<the exception's message could not be printed>"
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + " ..."
    where = ""
    root = str(submission_root)
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(root):
            where = f"{os.path.relpath(frame.filename, root)}, line {frame.lineno}, in {frame.name}"
    if isinstance(error, SyntaxError) and error.filename and error.filename.startswith(root):
        where = f"{os.path.relpath(error.filename, root)}, line {error.lineno}"
    return {"type": type(error).__name__, "message": message, "where": where}


def import_student_module(package: str, module: str, submission_root: Path) -> types.ModuleType:
    """Import ``package.module`` from the submission without running the package's ``__init__``.

    Skipping ``__init__`` keeps the parts independent: a broken ``linear.py`` that ``__init__`` imports
    must not cost the points of ``matmul``.
    """
    package_dir = submission_root / package
    if not (package_dir / f"{module}.py").is_file():
        raise ModuleNotFoundError(f"{package}/{module}.py is missing from your submission")
    if package not in sys.modules:
        parent = types.ModuleType(package)
        parent.__path__ = [str(package_dir)]
        sys.modules[package] = parent
    return importlib.import_module(f"{package}.{module}")


def main(workdir: Path) -> None:
    from . import transport
    from .probes import get_probe

    submission_root = workdir / "submission"
    out = workdir / "out"
    job = transport.read(workdir / "job")
    sys.path.insert(0, str(submission_root))
    os.chdir(workdir / "scratch")

    modules: dict[str, types.ModuleType] = {}
    if job["module"]:  # a part of one module imports it first, so that an import error is reported once
        try:
            modules[job["module"]] = import_student_module(job["package"], job["module"], submission_root)
        except BaseException as error:  # noqa: BLE001 - anything the student's import does is reported
            transport.write(out / "import", {"ok": False, "error": describe_exception(error, submission_root)})
            return
    transport.write(out / "import", {"ok": True})

    for index in range(job["start"], job.get("end", len(job["probes"]))):
        call = job["probes"][index]
        started = time.perf_counter()
        try:
            name = call["module"]
            if name not in modules:  # an import error here costs only the probes of this module
                modules[name] = import_student_module(job["package"], name, submission_root)
            value = get_probe(call["probe"])(modules[name], **call["args"])
            outcome = {"ok": True, "value": value}
        except BaseException as error:  # noqa: BLE001 - SystemExit and friends are student errors too
            outcome = {"ok": False, "error": describe_exception(error, submission_root)}
        outcome["seconds"] = time.perf_counter() - started
        try:
            transport.write(out / f"{index:04d}", outcome)
        except BaseException as error:  # noqa: BLE001 - e.g. a value that cannot be encoded
            transport.write(out / f"{index:04d}", {"ok": False, "error": describe_exception(error, submission_root)})

