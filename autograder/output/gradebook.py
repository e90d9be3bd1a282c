"""The gradebook CSV of a class: one row per submission, a column per part, written by ``course grade-all``
and read by ``course report``; and, for ``course export``, the same scores with the course's late policy
applied (raw score, late days, deduction, final score)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

from ..core.config import Assignment, LatePolicy
from ..core.errors import CourseError
from ..runtime.transport import UnsafeFile, read_regular
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


# --------------------------------------------------------------------------- late days (``course export``)

LATE_COLUMNS = ("submission", "submitted_at", "late_days", "raw", "deduction", "final", "note")
METADATA = "submission_metadata.json"     # what Gradescope writes beside each exported submission
MAX_METADATA_BYTES = 1024 * 1024
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Lateness:
    """What the late policy made of one submission's score."""

    late_days: int
    deduction: float
    final: float
    note: str = ""


def lateness(raw: float, points: float, submitted: datetime | None, policy: LatePolicy | None,
             extension_days: float = 0.0) -> Lateness:
    """The late days of a submission and its final score under ``policy``.

    Late by whole days of 24 real hours counted up from the due date (moved by ``extension_days``), once
    past the grace;
    each day deducts ``policy.per_day`` of ``points``, at most ``policy.max_deduction`` of them, never below
    0; after the cutoff (moved alike) the final score is 0. Without a policy or a time nothing is deducted.
    """
    if policy is None or submitted is None:
        return Lateness(0, 0.0, raw, "" if policy is None else "no submission time: counted on time")
    shift = timedelta(days=extension_days)
    utc = timezone.utc   # every time in UTC: two times of one zone compare and subtract as wall clocks
    submitted, due = submitted.astimezone(utc), policy.due.astimezone(utc) + shift
    note = f"extension of {extension_days:g} days" if extension_days else ""
    if submitted <= due + timedelta(minutes=policy.grace_minutes):
        return Lateness(0, 0.0, raw, note)
    days = math.ceil((submitted - due) / DAY)     # across a change to summer time too, a day is 24 hours
    if policy.cutoff is not None and submitted > policy.cutoff.astimezone(utc) + shift:
        return Lateness(days, raw, 0.0, "; ".join(filter(None, [note, "after the cutoff: no credit"])))
    deduction = min(days * policy.per_day, policy.max_deduction) * points
    final = max(0.0, raw - deduction)
    return Lateness(days, raw - final, final, note)


def number(value: float) -> str:
    """A score as the gradebook and the LMS files write it: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_time(text: str, zone: tzinfo | None, where: str) -> datetime:
    """An ISO 8601 time; one without an offset is taken in ``zone`` (the late policy's time zone)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise GradebookError(f"{where}: {text!r} is not a date and time like 2026-12-11T23:59:00+01:00") from None
    if moment.tzinfo is None:
        if zone is None:
            raise GradebookError(f"{where}: {text!r} has no time zone offset and course.yml has no late policy")
        moment = moment.replace(tzinfo=zone)
    return moment


def read_metadata(folder: Path) -> tuple[datetime | None, list[str]]:
    """``created_at`` and the users' emails of Gradescope's ``submission_metadata.json`` in ``folder``
    (``None, []`` when there is none). Read as hostile: no link followed, at most 1 MB."""
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None, []
    try:
        os.stat(METADATA, dir_fd=handle, follow_symlinks=False)
        data = json.loads(read_regular(METADATA, MAX_METADATA_BYTES, dir_fd=handle))
    except FileNotFoundError:
        return None, []
    except (OSError, UnsafeFile, ValueError, RecursionError) as error:
        raise GradebookError(f"{folder / METADATA} cannot be read: {error}") from None
    finally:
        os.close(handle)
    if not isinstance(data, dict):
        raise GradebookError(f"{folder / METADATA} is not Gradescope's submission metadata (not an object)")
    created = data.get("created_at")
    moment = parse_time(created, None, str(folder / METADATA)) if isinstance(created, str) else None
    users = data.get("users") if isinstance(data.get("users"), list) else []
    emails = [user["email"] for user in users if isinstance(user, dict) and isinstance(user.get("email"), str)]
    return moment, emails


def read_table(path: Path, columns: tuple[str, ...], what: str) -> list[dict[str, str]]:
    """The rows of a small CSV given by the user that must have ``columns`` (UTF-8, a BOM allowed)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = [name.strip() for name in reader.fieldnames or []]
    except FileNotFoundError:
        raise GradebookError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GradebookError(f"{path} cannot be read: {error}") from None
    missing = [name for name in columns if name not in fields]
    if missing:
        raise GradebookError(f"{path} is not {what}: it has no column {', '.join(missing)} "
                             f"(its columns: {', '.join(fields) or 'none'})")
    return [{(key or "").strip(): (value or "").strip() for key, value in row.items() if key is not None}
            for row in rows]


def read_submitted(path: Path, zone: tzinfo | None) -> dict[str, datetime]:
    """``--submitted``: a CSV with the columns ``submission,submitted_at`` (ISO 8601)."""
    return {row["submission"]: parse_time(row["submitted_at"], zone, f"{path}, {row['submission']}")
            for row in read_table(path, ("submission", "submitted_at"), "a CSV of submission times")}


def read_extensions(path: Path) -> dict[str, float]:
    """``--extensions``: a CSV with the columns ``student,days``; ``student`` is a submission's name, an
    email or a roster identifier (SIS Login ID, SIS User ID, Canvas ID, Moodle username or ID number)."""
    extensions = {}
    for row in read_table(path, ("student", "days"), "a CSV of extensions"):
        try:
            days = float(row["days"])
        except ValueError:
            days = -1.0
        if not 0 <= days < 1000:
            raise GradebookError(f"{path}: extension of {row['student']}: {row['days']!r} is not a number of days")
        extensions[row["student"].casefold()] = days
    return extensions


def write_late_gradebook(rows: list[dict], path: Path) -> None:
    """The gradebook with the late policy applied: raw score, late days, deduction, final score."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=LATE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())
