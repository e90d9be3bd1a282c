"""Which walls of the sandbox hold on this machine, and the rule when none keeps the grader's files safe.

The launcher (:mod:`.launcher`) raises four walls around every worker, each where the kernel allows:
namespaces (hidden paths, no network, own PID namespace), a uid of the worker's own (the grader as
root), Landlock (:mod:`.landlock`) and seccomp (:mod:`.seccomp`); where no PID namespace holds the
worker, a guard of its process tree (:mod:`.guard`) besides. Its report records each as held or not
with the reason. Those records are for course staff: they go to the provenance of the grade
(``extra_data.provenance.walls`` of ``results.json``) and to the staff log (the grading process's
stderr), never to the student's feedback, so a student learns nothing about which walls are down.

The rule (:func:`preflight`): before any student code runs, a worker is started with nothing to run
and tries to open the files the reference and the hidden checks live in (the solution's package, the
checks of each part, the installed grader, ``course.yml``, the course secret). If it opens any of them,
or no wall of the three that keep files (namespaces, Landlock, the uid barrier) held, the grade does not
go on: :func:`refusal` says what is missing and what to change, and the grade ends with a
``results.json`` whose checks are not run. ``course grade --allow-unsandboxed`` (or
``LORA_COURSE_ALLOW_UNSANDBOXED=1``) grades anyway and records it in the provenance.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from ..core.cleanup import work_folder
from . import policy
from .command import run_command
from .supervise import Limits

ALLOW_ENV = "LORA_COURSE_ALLOW_UNSANDBOXED"
KEEPING_FILES = ("namespaces", "landlock", "uid")
_cache: dict[tuple[str, ...], dict] = {}
_lock = threading.Lock()


def allowed_unsandboxed() -> bool:
    """Whether course staff chose to grade where no wall holds (``--allow-unsandboxed``)."""
    return os.environ.get(ALLOW_ENV, "") == "1"


def guarded_files(solution: Path, course_files: list[Path]) -> list[str]:
    """The files a worker must not open: the reference's modules, every part's checks (in the course's
    grader and in an installed copy), and ``course_files`` (``course.yml``, the secret) that exist."""
    found = [path for path in sorted(Path(solution).rglob("*.py"))[:3]]
    for folder in {policy.GRADER_DIR, *map(Path, policy.module_paths([policy.GRADER_PACKAGE]))}:
        found += sorted((Path(folder) / "parts").glob("*/checks.py"))[:3] + [Path(folder) / "__init__.py"]
    found += [Path(path) for path in course_files]
    return sorted({str(path.resolve()) for path in found if path.is_file()})


def preflight(hide: list[Path], guarded: list[str]) -> dict:
    """Start one worker as every grade's workers start (cold), with nothing to run, and return what it
    reported: ``walls`` as :mod:`.launcher` records them, ``opened`` (the ``guarded`` files it could
    open), ``started`` (whether it ran Python at all), ``held`` (the rule: it started, no guarded file
    opened and a wall keeping files held) and ``staff`` (what went wrong, one line each). Run once per grading process and set of paths."""
    key = tuple(sorted(map(str, hide))) + ("|",) + tuple(guarded)
    with _lock:
        if key in _cache:
            return _cache[key]
    with work_folder("lora-grade-walls-") as workdir:
        ran = run_command(workdir, "pass", Limits(wall_seconds=60, memory_mb=512), list(hide), (),
                          guarded=guarded)
    report = ran.isolation
    walls = report.get("walls") or {}
    opened = report.get("opened", guarded)   # a launcher that did not report: as if every file opened
    keeping = [name for name in KEEPING_FILES if (walls.get(name) or {}).get("held")]
    # a worker that cannot even start Python (as root without namespaces, an interpreter inside a folder
    # closed to other users, such as /root/.pyenv) would fail every check of every student
    started = ran.returncode == 0
    last = ran.output.strip().splitlines()[-1:] if not started else []
    result = {"walls": walls, "opened": opened, "keeping": keeping, "held": bool(keeping) and not opened and started,
              "started": started, "staff": list(report.get("staff") or [])
              + [f"the worker could not start Python (exit code {ran.returncode}{': ' + last[0] if last else ''})"] * (not started)}
    with _lock:
        _cache[key] = result
    return result


def refusal(result: dict) -> str:
    """What course staff read when :func:`preflight` found the grader's files open to the worker."""
    down = "; ".join(f"{name}: {wall.get('why', 'not held')}" for name, wall in result["walls"].items()
                     if not wall.get("held")) or "no wall reported"
    if not result.get("started", True) and not result["opened"]:
        return ("The grader stopped before running any student code: the sandboxed worker could not start "
                f"Python ({'; '.join(result['staff'][-1:])}). Course staff: the worker runs as a uid of its own "
                "where the grader is root; install the Python environment where every user may read it (not "
                "under /root or a home folder of mode 700), or grade where namespaces are allowed. To grade "
                "anyway run `course grade --allow-unsandboxed`.")
    opened = f" The worker could open {', '.join(result['opened'][:4])}." if result["opened"] else ""
    if result["opened"] and (result["walls"].get("uid") or {}).get("held"):
        opened += (" It runs as a uid of its own, but these files are readable by every user: make the course's "
                   "files root's alone (chmod -R go-rwx on the course folder and the installed grader, as the "
                   "Gradescope setup.sh does), or")
    return ("The grader stopped before running any student code: on this machine nothing keeps the reference "
            f"solution and the hidden checks from the student's code. Walls down: {down}.{opened} "
            "Course staff: grade where one of these holds: Linux 5.13 or later with Landlock enabled "
            "(`landlock` in /sys/kernel/security/lsm or the kernel's lsm= setting); or the grader run as root "
            "(Gradescope's setup.sh makes its files root-only); or user namespaces allowed "
            "(sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04 "
            "kernel.apparmor_restrict_unprivileged_userns=0). To grade anyway, knowing students can read "
            "the reference, run `course grade --allow-unsandboxed`.")


def staff_log(lines: list[str]) -> None:
    """Write ``lines`` to the staff log: the grading process's stderr, which students never see."""
    for line in lines:
        print(f"course: staff: {line}", file=sys.stderr, flush=True)
