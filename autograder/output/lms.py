"""Grades into a learning management system: the CSV files that Canvas and Moodle import.

**Canvas** (its gradebook import): the header ``Student,ID,SIS User ID,SIS Login ID,Section,<Title> (<id>)``
("Student" first, "ID" second, "Section" closing the student columns, or Canvas refuses the file with
"Invalid header row"), an optional ``Points Possible`` row, then one row per student of the roster, which is
the gradebook CSV that Canvas itself exports. A student with no submission gets a blank cell, never 0 (a
blank leaves Canvas's grade as it is). Canvas's computed columns ("Current Score", "Final Grade", ...) are
never written. **Moodle** (its grade import): an identifier column (``Email address`` by default, or
``Username``, ``ID number``) and the grade column, one row per student of Moodle's own grades export.

Submissions are matched to students by a mapping file (``submission,student``), else by their name or
the emails of Gradescope's metadata, against the roster's identifiers (Canvas: SIS Login ID, SIS User ID,
ID; Moodle: Email address, Username, ID number), ignoring case. Every cell is written so that no
spreadsheet evaluates it: a leading ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a ``'`` before it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import CourseError
from .gradebook import GradebookError, read_table

CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_IDENTIFIERS = ("SIS Login ID", "SIS User ID", "ID")
# what Canvas computes itself; an import must never write them
CANVAS_COMPUTED = re.compile(r"^(Unposted |Override )?(Current|Final) (Score|Grade|Points)$|^Override (Score|Grade)$|"
                             r"\b(Current|Final|Unposted) (Score|Points|Grade)$", re.IGNORECASE)
MOODLE_IDENTIFIERS = ("Email address", "Username", "ID number")


class ExportError(CourseError):
    """The roster, the mapping or the options of ``course export`` cannot be used; one sentence."""


@dataclass(frozen=True)
class Student:
    """One row of the LMS's roster: what is written back, and the identifiers it is matched by."""

    cells: dict[str, str]
    identifiers: tuple[str, ...]     # casefolded, non-empty

    def matches(self, keys: set[str]) -> bool:
        return any(identifier in keys for identifier in self.identifiers)


def neutral(value: str) -> str:
    """``value`` as a cell no spreadsheet evaluates as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv(rows: list[list[str]]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerows([[neutral(cell) for cell in row] for row in rows])
    return text.getvalue()


def read_canvas_roster(path: Path) -> list[Student]:
    """The students of Canvas's gradebook export (its ``Points Possible`` and other non-student rows skipped)."""
    rows = read_table(path, ("Student", "ID", "SIS Login ID", "Section"), "a Canvas gradebook export")
    students = []
    for row in rows:
        name = row.get("Student", "")
        if not row.get("ID") or name.casefold() in ("points possible", ""):
            continue
        identifiers = tuple(row[column].casefold() for column in CANVAS_IDENTIFIERS if row.get(column))
        students.append(Student({column: row.get(column, "") for column in CANVAS_STUDENT_COLUMNS}, identifiers))
    if not students:
        raise ExportError(f"{path} lists no students (a Canvas gradebook export has one row per student)")
    return students


def read_moodle_roster(path: Path, id_column: str) -> list[Student]:
    """The students of Moodle's grades export (any layout that has ``id_column``)."""
    rows = read_table(path, (id_column,), "a Moodle grades export")
    students = []
    for row in rows:
        if not row.get(id_column):
            continue
        identifiers = tuple(row[column].casefold() for column in MOODLE_IDENTIFIERS if row.get(column))
        students.append(Student({id_column: row[id_column]}, identifiers))
    if not students:
        raise ExportError(f"{path} lists no students")
    return students


def read_mapping(path: Path) -> dict[str, str]:
    """``--mapping``: a CSV ``submission,student`` (student: any identifier of the roster)."""
    return {row["submission"]: row["student"].casefold()
            for row in read_table(path, ("submission", "student"), "a mapping of submissions to students")}


def match(students: list[Student], keys_by_submission: dict[str, set[str]]
          ) -> tuple[dict[int, str], list[str], dict[str, list[int]]]:
    """``({student index: submission}, submissions on no roster row, {submission: several students})``.
    A student matched by two submissions keeps the later one in name order (a resubmission folder)."""
    found: dict[int, str] = {}
    unmatched, ambiguous = [], {}
    for submission, keys in sorted(keys_by_submission.items()):
        hits = [index for index, student in enumerate(students) if student.matches(keys)]
        if not hits:
            unmatched.append(submission)
        elif len(hits) > 1:
            ambiguous[submission] = hits
        else:
            found[hits[0]] = submission
    return found, unmatched, ambiguous


def canvas_csv(students: list[Student], column: str, grades: dict[int, str], points: str | None) -> str:
    """Canvas's import file: ``grades`` by student index (absent: a blank cell); ``points`` the
    ``Points Possible`` row, or ``None`` for none."""
    if CANVAS_COMPUTED.search(column.strip()):
        raise ExportError(f"--column {column!r} is a column Canvas computes itself; name the assignment's own column, "
                          f"\"<Assignment title> (<assignment id>)\"")
    rows = [[*CANVAS_STUDENT_COLUMNS, column]]
    if points is not None:
        rows.append(["Points Possible", "", "", "", "", points])
    for index, student in enumerate(students):
        rows.append([*(student.cells[name] for name in CANVAS_STUDENT_COLUMNS), grades.get(index, "")])
    return _csv(rows)


def moodle_csv(students: list[Student], id_column: str, column: str, grades: dict[int, str]) -> str:
    """Moodle's import file: the identifier and the grade (blank for a student with no submission)."""
    rows = [[id_column, column]]
    rows += [[student.cells[id_column], grades.get(index, "")] for index, student in enumerate(students)]
    return _csv(rows)


__all__ = ["ExportError", "GradebookError", "Student", "canvas_csv", "match", "moodle_csv", "neutral",
           "read_canvas_roster", "read_mapping", "read_moodle_roster"]
