"""The gradebook CSV of a class: one row per submission, a column per part, written by ``course grade-all``
and read by ``course report``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..core.config import Assignment
from ..core.errors import CourseError
from .results import write_atomic


class GradebookError(CourseError):
    """The submissions folder or the gradebook cannot be used; one sentence for the user."""


def columns(assignment: Assignment) -> list[str]:
    ids = [part.id for part in assignment.parts]
    return ["submission", *ids, "total", "max_score", *(f"{part}_max" for part in ids), "seconds", "error"]


def write_gradebook(assignment: Assignment, rows: list[dict], path: Path) -> None:
    """Write the CSV atomically (a temporary file, then a rename)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns(assignment), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def read_gradebook(path: Path) -> list[dict[str, str]]:
    """The rows of a gradebook CSV written by ``course grade-all`` (:mod:`autograder.commands.grade_all`)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = reader.fieldnames or []
    except FileNotFoundError:
        raise GradebookError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GradebookError(f"{path} cannot be read: {error}") from None
    if not {"submission", "total"} <= set(fields):
        raise GradebookError(f"{path} is not a gradebook of `course grade-all` (no submission and total columns)")
    return rows
