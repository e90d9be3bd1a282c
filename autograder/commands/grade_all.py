"""Grade a whole class: every submission of a folder, N at a time, into a gradebook CSV.

Each submission (a folder or a ``.zip``) is graded by ``course grade`` in its own process, exactly as
one grade is, so a submission that crashes, hangs or floods its output (which the sandbox already
contains) or a grader failure on one submission changes nothing for the others. Its Gradescope
results are written atomically to ``<gradebook stem>-results/<name>.json`` as soon as it finishes;
the CSV is rebuilt from those files after every submission. A rerun after a crash or ``kill -9``
grades only the submissions without results (``force`` regrades them all). The Slurm backend
(:mod:`autograder.commands.slurm`) runs the same unit, one ``course grade`` per submission, as tasks of a job array.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core.config import Assignment, Course
from ..output.gradebook import GradebookError, columns, read_gradebook, write_gradebook
from ..output.results import GRADER_ERROR, SUBMISSION_ERROR, error_results, fmt_points, write_json
from ..core.untrusted import clean_text
from .boot import cli_command
from ..core.cleanup import remove_tree
from ..sandbox import zygote


@dataclass(frozen=True)
class Entry:
    """One submission of the class folder."""

    name: str          # the gradebook's key: the folder name, or the zip's name without .zip
    path: Path


@dataclass
class Summary:
    """What one ``grade_all`` run did."""

    graded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)      # files that are neither folders nor zips
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each submission graded now


def find_submissions(folder: Path) -> tuple[list[Entry], list[str]]:
    """The submissions in ``folder`` (sorted by name) and the names of the files that are none."""
    folder = Path(folder)
    if not folder.exists():
        raise GradebookError(f"{folder} does not exist")
    if not folder.is_dir():
        raise GradebookError(f"{folder} is not a folder; give the folder that holds one folder or .zip per submission")
    try:
        children = sorted(folder.iterdir())
    except PermissionError as error:
        raise GradebookError(f"{folder} cannot be read: {error.strerror}") from None
    entries, skipped, seen = [], [], {}
    for child in children:
        if child.name.startswith(".") or child.name in ("__MACOSX", "__pycache__"):
            continue
        if child.is_dir():
            name = child.name
        elif child.suffix.lower() == ".zip":
            name = child.name[: -len(".zip")]
        else:
            skipped.append(child.name)
            continue
        if name in seen:
            raise GradebookError(f"two submissions are both named {name!r} ({seen[name]}, {child.name}); "
                                 f"rename one of them")
        seen[name] = child.name
        entries.append(Entry(name, child))
    if not entries:
        raise GradebookError(f"{folder} holds no submissions (a folder or a .zip each)")
    return entries, skipped


def results_folder(gradebook: Path) -> Path:
    """Where the per-submission results of ``gradebook`` live: ``<stem>-results/`` beside it."""
    return gradebook.with_name(f"{gradebook.stem}-results")


def read_results(path: Path) -> dict | None:
    """A submission's results, or ``None`` when they are missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("score"), (int, float)) else None


def is_done(data: dict | None, parts: list[str]) -> bool:
    """Results that a rerun keeps: present, not a grader failure, and covering every part asked for."""
    if data is None:
        return False
    extra = data.get("extra_data") or {}
    if extra.get("error_kind") == GRADER_ERROR:
        return False
    return "error" in extra or set(parts) <= set(extra.get("parts") or {})


def grade_command(course: Course, assignment: Assignment, entry: Entry, out: Path, parts: list[str],
                  hide: tuple[Path, ...] = (), only_gpu: bool = False, jobs: int | None = None) -> list[str]:
    """``course grade`` for one submission, in a fresh interpreter running this very grader; ``hide``:
    more folders its worker must not see, ``only_gpu``: the GPU checks alone, ``jobs``: its parts side by
    side (default: its cores)."""
    options = [option for part in parts for option in ("--part", part)] + (["--only", "gpu"] if only_gpu else []) \
        + (["--jobs", str(jobs)] if jobs else [])
    # The student's code sees neither the other submissions nor anyone's results.
    folders = (entry.path.parent.resolve(), out.parent.resolve(), *(Path(path).resolve() for path in hide))
    return cli_command("--course", str(course.path), "--assignment", assignment.id, "grade", str(entry.path),
                       "--out", str(out), *options, *(option for path in folders for option in ("--hide", str(path))))


def grade_timeout(assignment: Assignment) -> float:
    """Seconds one submission may take in all: twice the parts' time budgets (the reference and the
    worker start-ups come on top of the student's time) plus five minutes."""
    return 2 * sum(part.time_budget for part in assignment.parts) + 300


STDERR_KEPT = 40   # last lines of a failed grade's stderr kept for the staff (extra_data.staff)


def record_outcome(out: Path, returncode: int | None, stderr: str, failure: str | None = None) -> str | None:
    """How one ``course grade`` ended, as the gradebook records it: ``None`` when it wrote results to ``out``;
    else the error. A submission that cannot be graded (the same on a rerun) leaves its own results in
    ``out`` (exit code 2, ``extra_data.error_kind`` ``submission``); anything else is a grader failure,
    written to ``out`` as a row and retried on the next run, with the last line of ``stderr`` to show the
    staff. ``failure`` says why the process did not finish at all (a timeout, a cancelled task)."""
    data = read_results(out) if failure is None else None
    extra = (data or {}).get("extra_data") or {}
    if data is not None and returncode == 0 and extra.get("error_kind") is None:
        return None
    if data is not None and returncode == 2 and extra.get("error_kind") == SUBMISSION_ERROR:
        return extra.get("error", "")
    lines = stderr.strip().splitlines()
    # what the student sees names no path or source of the grader: the end of its stderr is the staff's
    message = failure or f"the grader failed on this submission (exit code {returncode}); the course staff have the details"
    staff = [clean_text("\n".join(lines[-STDERR_KEPT:]), 100 * STDERR_KEPT)] if lines else []
    write_json(out, error_results(message, GRADER_ERROR, staff))
    return message + (f": {clean_text(lines[-1], 300, newlines=False)}" if lines else "")


def grade_one(course: Course, assignment: Assignment, entry: Entry, out: Path, parts: list[str],
              jobs: int | None = None) -> str | None:
    """Grade ``entry`` into ``out``; returns ``None`` on success, else the error (also written to ``out``).

    The grade's temporary folders (its copy of the submission, its workers' folders) lie in one folder of
    this process's, its ``TMPDIR``, removed once it ends: a grade killed at its timeout leaves nothing."""
    out.unlink(missing_ok=True)   # only what this grade writes counts
    scratch = Path(tempfile.mkdtemp(prefix="lora-grade-all-"))
    scratch.chmod(0o711)  # without a mount namespace the worker's own uid must pass through to its work folder
    try:
        result = subprocess.run(grade_command(course, assignment, entry, out, parts, jobs=jobs), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=grade_timeout(assignment),
                                env={**os.environ, "TMPDIR": str(scratch)})
    except subprocess.TimeoutExpired:
        return record_outcome(out, None, "", f"grading did not finish within {grade_timeout(assignment):g} s")
    finally:
        remove_scratch(scratch)
    return record_outcome(out, result.returncode, result.stderr.decode("utf-8", errors="replace"))


def remove_scratch(folder: Path, attempts: int = 5) -> None:
    """Remove a grade's temporary ``folder``; the workers of a grade just killed end with it (their
    parent-death signal) and may still write for a moment, so a removal that left something is tried again."""
    for attempt in range(attempts):
        remove_tree(folder)
        if not os.path.lexists(folder):
            return
        time.sleep(0.2 * (attempt + 1))


def gradebook_rows(assignment: Assignment, entries: list[Entry], folder: Path) -> list[dict]:
    """One row per submission from its results file: a column per part, the total, and the maxima."""
    rows = []
    for entry in entries:
        data = read_results(folder / f"{entry.name}.json")
        if data is None:
            continue
        extra = data.get("extra_data") or {}
        parts = extra.get("parts") or {}
        row = {"submission": entry.name}
        for part in assignment.parts:
            row[part.id] = fmt_points(parts[part.id]["score"]) if part.id in parts else ""
        row["total"] = fmt_points(data["score"])
        row["max_score"] = fmt_points(data["max_score"]) if "max_score" in data else ""
        for part in assignment.parts:
            row[f"{part.id}_max"] = fmt_points(parts[part.id]["max_score"]) if part.id in parts else ""
        row["seconds"] = f"{data['execution_time']:.1f}" if "execution_time" in data else ""
        row["error"] = extra.get("error", "")
        rows.append(row)
    return rows


def start_class(assignment: Assignment, submissions: Path, gradebook: Path, force: bool, parts: list[str] | None,
                log: Callable[[str], None], done: Callable[[dict | None, list[str]], bool] = is_done,
                ) -> tuple[list[Entry], list[Entry], Summary]:
    """What every backend does first: find the submissions, keep those graded before (``done``; all are
    regraded with ``force``), say so, and write the gradebook of what is there; returns every entry,
    those to grade, and the summary so far."""
    entries, skipped = find_submissions(submissions)
    parts = list(parts or [part.id for part in assignment.parts])
    folder = results_folder(gradebook)
    folder.mkdir(parents=True, exist_ok=True)
    summary = Summary(skipped=skipped)
    todo = []
    for entry in entries:
        if not force and done(read_results(folder / f"{entry.name}.json"), parts):
            summary.reused.append(entry.name)
        else:
            todo.append(entry)
    for name in skipped:
        log(f"skipped {name}: neither a folder nor a .zip")
    if summary.reused:
        log(f"{len(summary.reused)} submissions already graded in {folder} (--force regrades them)")
    write_gradebook(assignment, gradebook_rows(assignment, entries, folder), gradebook)
    return entries, todo, summary


def finished_line(number: int, total: int, name: str, error: str | None, data: dict, seconds: float) -> str:
    """The line a backend prints when a submission is done."""
    outcome = f"error: {error}" if error else f"{fmt_points(data.get('score', 0))} / {fmt_points(data.get('max_score', 0))}"
    return f"[{number}/{total}] {name}: {outcome} ({seconds:.1f} s)"


def grade_all(course: Course, assignment: Assignment, submissions: Path, gradebook: Path, jobs: int = 1,
              force: bool = False, parts: list[str] | None = None,
              log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> Summary:
    """Grade every submission in ``submissions`` ``jobs`` at a time into ``gradebook`` (CSV) and the
    results folder beside it; submissions with results already are kept unless ``force``."""
    entries, todo, summary = start_class(assignment, submissions, gradebook, force, parts, log)
    parts = list(parts or [part.id for part in assignment.parts])
    folder = results_folder(gradebook)
    bar = progress_bar(len(todo))
    # --jobs submissions at once share the cores: each grades its parts on its share of them
    each = max(1, len(os.sched_getaffinity(0)) // max(1, jobs))

    def run(entry: Entry) -> tuple[Entry, str | None, float]:
        started = time.monotonic()
        error = grade_one(course, assignment, entry, folder / f"{entry.name}.json", parts, jobs=each)
        return entry, error, time.monotonic() - started

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    shared = shared_zygotes(assignment, parts) if todo else None
    try:
        futures = [pool.submit(run, entry) for entry in todo]
        for number, future in enumerate(as_completed(futures), start=1):
            entry, error, seconds = future.result()
            summary.graded.append(entry.name)
            summary.seconds[entry.name] = seconds
            if error is not None:
                summary.errors[entry.name] = error
            data = read_results(folder / f"{entry.name}.json") or {}
            line = finished_line(number, len(todo), entry.name, error, data, seconds)
            if bar is None:
                log(line)
            else:
                bar.write(line, file=sys.stderr)
                bar.update(1)
            write_gradebook(assignment, gradebook_rows(assignment, entries, folder), gradebook)
    finally:
        # On Ctrl-C nothing more starts; what finished is kept, and a rerun grades the rest.
        pool.shutdown(wait=True, cancel_futures=True)
        if shared is not None:
            shared.close()
        if bar is not None:
            bar.close()
    return summary


class shared_zygotes:
    """The class's warm zygotes (:mod:`autograder.sandbox.zygote`), one per set of libraries its parts
    name, started once and reached by every ``course grade`` of this run (through their environment)
    instead of each importing the libraries again; ended by :meth:`close`."""

    def __init__(self, assignment: Assignment, parts: list[str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="lora-zygotes-"))
        sets = [part.warm for part in assignment.parts if part.id in parts]
        self.zygotes = zygote.start_shared(self.folder, sets)
        self.before = os.environ.get(zygote.SHARED_ENV)
        os.environ[zygote.SHARED_ENV] = str(self.folder)

    def close(self) -> None:
        if self.before is None:
            os.environ.pop(zygote.SHARED_ENV, None)
        else:
            os.environ[zygote.SHARED_ENV] = self.before
        for running in self.zygotes:
            running.close()
        zygote.forget(self.zygotes)
        remove_tree(self.folder)


def progress_bar(total: int):
    """A tqdm progress bar on stderr when it is a terminal, else ``None`` (logs get a line each)."""
    if not total or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="submission", file=sys.stderr)
