"""Present a grade: the terminal table and the Gradescope ``results.json``.

The JSON follows Gradescope's specification (``score``, ``max_score``, ``execution_time``, ``output``,
``visibility``, ``tests`` with ``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``,
``tags``, ``visibility``). Every test's name starts with ``<part id>/`` and its tags hold the part id,
so per-part totals can be read from the file alone; provenance goes in ``extra_data``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from ..core.untrusted import clean_text
from ..engine.grading import MAX_NOTE, GradeReport, gpu_hint

# Gradescope shows a test when its own condition holds; the later in this order, the later it shows.
VISIBILITY_ORDER = ("visible", "after_due_date", "after_published", "hidden")


def fmt_points(value: float) -> str:
    return f"{value:g}"


def wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` as lines of at most ``width`` characters, the first starting with ``first`` and the others
    with ``rest``; words are kept whole where they fit, a word longer than a line is cut. Linear in
    ``len(text)`` (``textwrap`` cut a long word one line at a time, copying the rest each time: a 4 MB
    message took 75 s). ``[]`` for a text of blanks only."""
    lines: list[str] = []
    words: list[str] = []
    used, indent = 0, first
    piece = max(1, width - max(len(first), len(rest)))
    for word in text.split():
        for start in range(0, len(word), piece):
            chunk = word[start:start + piece]
            if words and len(indent) + used + 1 + len(chunk) > width:
                lines.append(indent + " ".join(words))
                words, used, indent = [], 0, rest
            used += len(chunk) + (1 if words else 0)
            words.append(chunk)
    if words:
        lines.append(indent + " ".join(words))
    return lines


def render_table(report: GradeReport, width: int = 100) -> str:
    """The report as text: a line per part, a line per check, feedback under each failed check."""
    lines = [f"{report.assignment.title}",
             f"submission: {clean_text(report.submission, MAX_NOTE, newlines=False)}    seed: {report.seed}", "=" * width]
    for part in report.parts:
        heading = f"{part.part.id:<9} {part.part.title}"
        score = f"{fmt_points(part.score)} / {fmt_points(part.max_score)}"
        lines.append(f"{heading[: width - len(score) - 2]:<{width - len(score)}}{score}")
        for note in part.notes:
            for number, paragraph in enumerate(note.splitlines()):
                lines += wrap(paragraph, width - 10, "  ! " if number == 0 else "    ", "    ")
        for check in part.checks:
            mark = {"passed": "PASS", "failed": "FAIL", "not run": "SKIP"}[check.status]
            points = f"{fmt_points(check.score)} / {fmt_points(check.spec.points)}"
            name = check.spec.id.split("/", 1)[1]
            lines.append(f"  {mark}  {name:<20} {points:>11}   {check.title}")
            if check.status != "passed" and check.feedback:
                for paragraph in check.feedback.splitlines():
                    lines += wrap(paragraph, width - 10, " " * 10, " " * 12) or [""]
        lines.append("-" * width)
    total = f"{fmt_points(report.score)} / {fmt_points(report.max_score)}"
    lines.append(f"{'TOTAL':<{width - len(total)}}{total}")
    lines += report.notes  # one line each, so a tool can find and drop one (see merge.py)
    lines.append(f"graded in {report.seconds:.1f} s")
    return "\n".join(lines)


def shown_with(report: GradeReport, visibility: str) -> GradeReport:
    """``report`` without the checks Gradescope shows later than ``visibility`` (for example the checks
    marked ``after_due_date`` when the results are ``visible``), so the summary never gives them away; a
    note says how many checks and points are held back."""
    limit = VISIBILITY_ORDER.index(visibility)
    held = [check for part in report.parts for check in part.checks
            if VISIBILITY_ORDER.index(check.spec.visibility) > limit]
    if not held:
        return report
    parts = [replace(part, checks=[check for check in part.checks if check not in held]) for part in report.parts]
    note = (f"not shown here yet ({', '.join(sorted({check.spec.visibility for check in held}))}): "
            f"{len(held)} checks ({fmt_points(sum(check.max_score for check in held))} points)")
    return replace(report, parts=parts, notes=[*report.notes, note])


def to_gradescope(report: GradeReport) -> dict:
    """The Gradescope results dictionary for ``report``."""
    tests = []
    for part_number, part in enumerate(report.parts, start=1):
        notes = clean_text("\n".join(part.notes), 2 * MAX_NOTE)   # repeated under each failed check: kept short
        for check_number, check in enumerate(part.checks, start=1):
            output = check.feedback if check.status != "passed" else "passed"
            if notes and check.status == "failed":
                output = f"{output}\n\n{notes}"
            entry = {
                "name": check.spec.id,
                "number": f"{part_number}.{check_number}",
                "score": check.score,
                "max_score": check.max_score,
                "output": output if check.status != "not run" else f"NOT RUN: {check.feedback}",
                "tags": [part.part.id] + (["gpu"] if check.spec.gpu else []),
                "visibility": check.spec.visibility,
            }
            if check.status != "not run":
                entry["status"] = check.status
            tests.append(entry)
    parts = {part.part.id: {"score": part.score, "max_score": part.max_score} for part in report.parts}
    return {
        "score": report.score,
        "max_score": report.max_score,
        "execution_time": round(report.seconds, 3),
        "output": render_table(shown_with(report, report.assignment.visibility)),
        "output_format": "text",
        "visibility": report.assignment.visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        # gpu_hint: the lines of ``output`` that merge-results drops once the GPU checks are graded
        "extra_data": {"parts": parts, "provenance": report.provenance, "gpu_hint": gpu_hint(report.parts),
                       # the staff log (a grader error's traceback): Gradescope shows students no extra_data
                       "staff": [*report.staff]},
    }


GRADER_ERROR = "grader"          # extra_data.error_kind of a failure to retry on the next run
SUBMISSION_ERROR = "submission"  # the submission itself cannot be graded: a rerun gives the same


def error_results(message: str, kind: str | None = None, staff: list[str] | None = None) -> dict:
    """The Gradescope results of a submission that could not be graded at all (no package, a broken
    zip): no points and the reason, which the student sees; ``kind`` (``extra_data.error_kind``) tells
    ``grade-all`` whether a rerun should try again (:data:`GRADER_ERROR`) or not (:data:`SUBMISSION_ERROR`);
    ``staff``: lines for the staff log (``extra_data.staff``), which students never see."""
    message = clean_text(message, MAX_NOTE, newlines=False)
    extra = {"error": message, **({"error_kind": kind} if kind else {}), **({"staff": staff} if staff else {})}
    return {"score": 0.0, "output": f"Your submission could not be graded: {message}", "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": [], "extra_data": extra}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` atomically (a private temporary file beside it, then a rename), so a crash or
    ``kill -9`` never leaves half a file behind and two writers never mix their bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def write_results(report: GradeReport, path: Path) -> None:
    """Write ``results.json`` atomically."""
    write_json(path, to_gradescope(report))
