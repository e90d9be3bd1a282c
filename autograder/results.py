"""Present a grade: the terminal table and the Gradescope ``results.json``.

The JSON follows Gradescope's specification (``score``, ``max_score``, ``execution_time``, ``output``,
``visibility``, ``tests`` with ``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``,
``tags``, ``visibility``). Every test's name starts with ``<part id>/`` and its tags hold the part id,
so per-part totals can be read from the file alone; provenance goes in ``extra_data``.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from .grading import GradeReport


def fmt_points(value: float) -> str:
    return f"{value:g}"


def render_table(report: GradeReport, width: int = 100) -> str:
    """The report as text: a line per part, a line per check, feedback under each failed check."""
    lines = [f"{report.assignment.title}",
             f"submission: {report.submission}    seed: {report.seed}", "=" * width]
    for part in report.parts:
        heading = f"{part.part.id:<9} {part.part.title}"
        score = f"{fmt_points(part.score)} / {fmt_points(part.max_score)}"
        lines.append(f"{heading[: width - len(score) - 2]:<{width - len(score)}}{score}")
        for note in part.notes:
            lines += textwrap.wrap(note, width - 10, initial_indent="  ! ", subsequent_indent="    ",
                                   replace_whitespace=False, drop_whitespace=True)
        for check in part.checks:
            mark = {"passed": "PASS", "failed": "FAIL", "not run": "SKIP"}[check.status]
            points = f"{fmt_points(check.score)} / {fmt_points(check.spec.points)}"
            name = check.spec.id.split("/", 1)[1]
            lines.append(f"  {mark}  {name:<20} {points:>11}   {check.title}")
            if check.status != "passed" and check.feedback:
                for paragraph in check.feedback.splitlines():
                    lines += textwrap.wrap(paragraph, width - 10, initial_indent=" " * 10,
                                           subsequent_indent=" " * 12) or [""]
        lines.append("-" * width)
    total = f"{fmt_points(report.score)} / {fmt_points(report.max_score)}"
    lines.append(f"{'TOTAL':<{width - len(total)}}{total}")
    lines.append(f"graded in {report.seconds:.1f} s")
    return "\n".join(lines)


def to_gradescope(report: GradeReport) -> dict:
    """The Gradescope results dictionary for ``report``."""
    tests = []
    for part_number, part in enumerate(report.parts, start=1):
        notes = "\n".join(part.notes)
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
        "output": render_table(report),
        "output_format": "text",
        "visibility": report.assignment.visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"parts": parts, "provenance": report.provenance},
    }


def write_results(report: GradeReport, path: Path) -> None:
    """Write ``results.json`` atomically, so a crash never leaves half a file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_gradescope(report), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
