"""Grade the notebook part: run the notebook in the sandbox, export its values, judge them here.

The pipeline is the probes' own, in one direction. The submitted notebook and package are copied into
a fresh work folder with :mod:`.runner` and the transport (no test of any kind);
:func:`autograder.sandbox.command.run_command` runs it under the part's time and memory budget, forked
from the warm zygote of the part's ``warm`` libraries (no network, not even loopback: the cells run in
an IPython shell of the worker itself, not in a kernel); the values each question exports come back as
JSON + safetensors and are validated by :mod:`autograder.runtime.transport`. The master notebook of the solutions runs the same
way (once per grading process) and gives the reference's values. Every question is then a check
judged by :func:`autograder.engine.judge.judge_part`, in the grading process, with the tests of
:mod:`autograder.parts.notebook.checks`: nothing the notebook prints or raises decides or enters a score.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import course_cache

from ..core.model import CHECKS, Outcome
from ..core.cleanup import work_folder
from ..core.config import Assignment, Part
from ..core.model import CheckResult, PlannedCheck
from ..core.serial import trusted
from .judge import judge_part
from ..runtime import transport
from ..sandbox import Limits, policy, walls
from ..sandbox.command import run_command
from ..parts.notebook import TINY_MODEL_ENV, runner

MAX_EXPORT_BYTES = 32 * 1024 * 1024   # one question's values
_reference_cache: dict[str, dict[str, Outcome]] = {}


def find_notebook(root: Path, name: str) -> Path | None:
    """``name`` in the submission folder ``root``, or the first one found up to three folders down."""
    found = [root / name] + sorted(path for depth in range(1, 4) for path in root.glob("/".join(["*"] * depth + [name])))
    return next((path for path in found if path.is_file() and not path.is_symlink()), None)


def exports(part: Part) -> dict[str, dict[str, str]]:
    """What the notebook's shell exports for ``part``'s questions: ``{question: {key: expression}}``."""
    return {CHECKS[spec.id].question: dict(CHECKS[spec.id].exports) for spec in part.checks}


def run_notebook(part: Part, notebook: Path, package_dir: Path, package: str, hide: list[Path],
                 timings: dict[str, float] | None = None) -> tuple[dict[str, Outcome], list[str]]:
    """Run ``notebook`` (beside the package ``package_dir``) in the sandbox with the tiny model and read
    back each question's exported values: ``({question: Outcome}, notes for the report)``. A question
    whose values did not come back gets an outcome that says why, in the grader's words."""
    with work_folder("lora-notebook-") as workdir:  # removed whatever the notebook left in it
        submission, runtime = workdir / "submission", workdir / "runtime"
        if package_dir.is_dir():   # links stay links (never followed here); the sandbox covers what they name
            shutil.copytree(package_dir, submission / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                            symlinks=True)
        else:
            submission.mkdir()
        shutil.copyfile(notebook, submission / part.notebook)
        (submission / "tests").mkdir(exist_ok=True)
        for name, path in policy.SUPPORT_FILES.items():   # the tiny model, which the notebook imports
            shutil.copyfile(path, submission / "tests" / name)
        runtime.mkdir()
        shutil.copyfile(runner.__file__, runtime / "notebook_runner.py")
        shutil.copyfile(transport.__file__, runtime / "transport.py")
        (runtime / "job.json").write_text(json.dumps({"notebook": part.notebook, "exports": exports(part),
                                                      "cell_timeout": part.time_budget}))
        code = (f"import sys; sys.path.insert(0, {str(runtime)!r}); from pathlib import Path; "
                f"from notebook_runner import main; main(Path({str(workdir)!r}))")
        env = {TINY_MODEL_ENV: "1", "IPYTHONDIR": str(workdir / "scratch" / "ipython"), "MPLBACKEND": "agg"}
        limits = Limits(wall_seconds=part.time_budget, memory_mb=part.memory_mb, processes=128)
        ran = run_command(workdir, code, limits, hide, ("submission", "runtime"), env=env,
                          warm=part.warm)
        # its output is never shown: only values the grader reads as data leave the sandbox
        why = ran.stopped or "the notebook could not be executed (is it a valid .ipynb?)"
        outcomes = {question: _read_export(workdir / "out" / question, why) for question in exports(part)}
        if timings is not None:
            timings.update(_read_timings(workdir / "out" / "timings", ran.seconds),
                           worker_launches=1, warm_launches=int(ran.warm))
    notes = []
    if ran.stopped or not any(outcome.ok for outcome in outcomes.values()):
        notes.append(f"the grader could not run {part.notebook} to its end: {why}; make sure it runs from top to "
                     f"bottom with {TINY_MODEL_ENV}=1 (Restart & Run All), as the grader runs it")
    if problems := ran.isolation.get("problems"):   # what the notebook caused; walls down are the staff's
        notes.append("sandbox: " + "; ".join(problems))
    walls.staff_log([f"{part.id}: {line}" for line in ran.isolation.get("staff") or []])
    return outcomes, notes


def _read_export(stem: Path, why: str) -> Outcome:
    """One question's exported values, ``{key: {"ok": True, "value": ...} | {"ok": False, "error": name}}``."""
    if not stem.with_suffix(".json").exists() and not stem.with_suffix(".json").is_symlink():
        return Outcome(ok=False, missing=f"your notebook's values never came back: {why}")
    try:
        values = transport.read(stem, max_bytes=MAX_EXPORT_BYTES)
    except (transport.TransportError, OSError) as error:
        return Outcome(ok=False, missing=f"the grader could not read your notebook's values ({error})")
    if not isinstance(values, dict) or not all(isinstance(entry, dict) and isinstance(entry.get("ok"), bool)
                                               for entry in values.values()):
        return Outcome(ok=False, missing="the grader could not read your notebook's values (malformed data)")
    return Outcome(ok=True, value=values)


def _read_timings(stem: Path, seconds: float) -> dict[str, float]:
    """Where the notebook's run went, from the runner's own clock (a claim: for benchmarks only)."""
    try:
        marks = transport.read(stem, max_bytes=4096)
        imported, ready, executed = (float(marks[key]) for key in ("imported", "kernel_ready", "executed"))
    except (transport.TransportError, OSError, KeyError, TypeError, ValueError):
        return {"sandbox_run": seconds}
    return {"sandbox_run": seconds, "runner_start": seconds - executed + imported,
            "shell_start": ready - imported, "cells": executed - ready}


def _timed(function, *args):
    started = time.monotonic()
    return function(*args), time.monotonic() - started


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for root in paths:
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def reference_key(part: Part, assignment: Assignment) -> str:
    """What decides the master notebook's values: the master, the reference package, the questions'
    exports, the code that runs it in the sandbox (runner, transport, the tiny model) and the versions of
    the libraries it computes with."""
    from importlib.metadata import version   # not an import of the libraries: other parts' threads use them

    master, package = assignment.solution / part.notebook, assignment.solution / assignment.package
    runtime = [Path(runner.__file__), Path(transport.__file__), *policy.SUPPORT_FILES.values()]
    text = _digest(master, package, *runtime) + json.dumps(exports(part), sort_keys=True) \
        + "/".join(version(name) for name in ("torch", "transformers", "peft", "ipython", "nbformat"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def reference_outcomes(part: Part, assignment: Assignment, hide: list[Path]) -> dict[str, Outcome]:
    """The master notebook's values, run the same way on the reference package: once for the same
    :func:`reference_key`, kept in the course cache (``notebook-reference/``, written by the grader only,
    which no worker can see) and in this process."""
    key = reference_key(part, assignment)
    if key in _reference_cache:
        return _reference_cache[key]
    stem = course_cache() / "notebook-reference" / key
    try:
        values = transport.read(stem, max_bytes=MAX_EXPORT_BYTES * len(exports(part)))
        if isinstance(values, dict) and set(values) == set(exports(part)):
            _reference_cache[key] = {question: Outcome(ok=True, value=value) for question, value in values.items()}
            return _reference_cache[key]
    except (transport.TransportError, OSError):
        pass   # not run yet (or unreadable): run it
    master, package = assignment.solution / part.notebook, assignment.solution / assignment.package
    outcomes, _ = run_notebook(part, master, package, assignment.package, hide)
    if all(outcome.ok for outcome in outcomes.values()):
        _reference_cache[key] = outcomes
        stem.parent.mkdir(parents=True, exist_ok=True)
        transport.write(stem, {question: outcome.value for question, outcome in outcomes.items()})
    # otherwise a grader problem (the judge says so, check by check), tried again at the next grade
    return outcomes


def grade_notebook(part: Part, assignment: Assignment, root: Path, hide: list[Path], seed: int,
                   timings: dict[str, float] | None = None) -> tuple[list[CheckResult], list[str]]:
    """The results of ``part``'s questions for the submission folder ``root``, and notes for the report;
    ``timings`` gets where the time went (the student's run, the master's)."""
    timings = {} if timings is None else timings
    started = time.monotonic()
    planned, _ = trusted(lambda: [PlannedCheck(spec, CHECKS[spec.id].plan(random.Random(f"{seed}/{spec.id}")))
                                  for spec in part.checks])
    notebook = find_notebook(root, part.notebook)
    if notebook is None:
        why = (f"your submission has no {part.notebook}, so its questions score zero (the rest is graded "
               f"as usual); put the notebook next to {assignment.package}/ (make_submission.py does)")
        got, notes = {question: Outcome(ok=False, missing=why) for question in exports(part)}, [why]
        want = got                       # nothing to compare: no need to run the master
    else:
        with ThreadPoolExecutor(1) as side:   # the master's run, when its values are not cached, meanwhile
            master = side.submit(_timed, reference_outcomes, part, assignment, hide)
            got, notes = run_notebook(part, notebook, root / assignment.package, assignment.package, hide, timings)
            want, timings["master_notebook"] = master.result()
    calls = [call for item in planned for call in item.calls]
    timings["plan_and_student"] = time.monotonic() - started
    results, timings["judge"] = trusted(judge_part, planned, [got[call.args["question"]] for call in calls],
                                        [want[call.args["question"]] for call in calls])
    return results, notes
