"""``course export``: the class's grades, with the late policy of course.yml applied, as the CSV file that
Canvas or Moodle imports (:mod:`autograder.output.lms`), and the gradebook with late days beside it.

    course export --format canvas --roster CANVAS_EXPORT.csv --gradebook gradebook.csv \\
        --column "LoRA lab (1234)" --out import.csv [--submissions DIR | --submitted times.csv] \\
        [--extensions extensions.csv] [--mapping mapping.csv] [--no-points-possible]
    course export --format moodle --roster MOODLE_EXPORT.csv --gradebook gradebook.csv --column "LoRA lab" ...

The time of each submission is ``created_at`` of Gradescope's ``submission_metadata.json`` in its folder of
``--submissions`` when there is one, else its row of ``--submitted`` (``submission,submitted_at``).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Callable

from ..core.config import Course
from ..core.errors import CourseError


def add_parser(commands, load: Callable[[argparse.Namespace], Course]) -> None:
    """Add the command to ``course``'s subcommands; ``load`` reads course.yml as the CLI was told to."""
    parser = commands.add_parser("export", help="grades with late days applied, as the CSV Canvas or Moodle imports")
    parser.add_argument("--format", required=True, choices=["canvas", "moodle"], help="the LMS to import into")
    parser.add_argument("--roster", required=True, help="the LMS's own gradebook export (its students)")
    parser.add_argument("--gradebook", required=True, help="the gradebook CSV of `course grade-all`")
    parser.add_argument("--column", required=True, help="the LMS column to fill: Canvas \"<Assignment title> "
                                                        "(<assignment id>)\", Moodle the grade item's name")
    parser.add_argument("--out", required=True, help="the CSV to import")
    parser.add_argument("--submissions", help="the class folder: Gradescope's submission_metadata.json of each "
                                              "submission gives its time and its students' emails")
    parser.add_argument("--submitted", help="CSV submission,submitted_at (ISO 8601) for submissions without metadata")
    parser.add_argument("--extensions", help="CSV student,days: days added to the due date and cutoff")
    parser.add_argument("--mapping", help="CSV submission,student: which roster student each submission is")
    parser.add_argument("--id-column", default="Email address", help="Moodle: the identifier column (Email address, "
                                                                     "Username or ID number)")
    parser.add_argument("--no-points-possible", action="store_true", help="Canvas: leave out the Points Possible row")
    parser.add_argument("--late-gradebook", help="the gradebook with late days (default: <out>-late.csv)")
    parser.set_defaults(run=functools.partial(run, load=load))


def run(args: argparse.Namespace, load: Callable[[argparse.Namespace], Course]) -> int:
    from ..output.gradebook import (lateness, number, read_extensions, read_gradebook, read_metadata,
                                    read_submitted, write_late_gradebook)
    from ..output.lms import (MOODLE_IDENTIFIERS, ExportError, canvas_csv, match, moodle_csv, read_canvas_roster,
                              read_mapping, read_moodle_roster)
    from ..output.results import write_atomic

    course = load(args)
    assignment = course.assignment(args.assignment)
    policy = assignment.late
    zone = policy.due.tzinfo if policy else None
    if args.format == "moodle" and args.id_column not in MOODLE_IDENTIFIERS:
        raise ExportError(f"--id-column must be one of {', '.join(MOODLE_IDENTIFIERS)}, got {args.id_column!r}")
    rows = read_gradebook(Path(args.gradebook))
    students = (read_canvas_roster(Path(args.roster)) if args.format == "canvas"
                else read_moodle_roster(Path(args.roster), args.id_column))
    times = read_submitted(Path(args.submitted), zone) if args.submitted else {}
    extensions = read_extensions(Path(args.extensions)) if args.extensions else {}
    mapping = read_mapping(Path(args.mapping)) if args.mapping else {}

    keys: dict[str, set[str]] = {}
    for row in rows:
        name = row["submission"]
        emails: list[str] = []
        if args.submissions:
            created, emails = read_metadata(Path(args.submissions) / name)
            if created is not None:
                times[name] = created
        keys[name] = {mapping[name]} if name in mapping else {name.casefold(), *(e.casefold() for e in emails)}
    found, unmatched, ambiguous = match(students, keys)
    student_of = {submission: index for index, submission in found.items()}

    late_rows, grades, warnings = [], {}, []
    for row in rows:
        name = row["submission"]
        try:
            raw = float(row["total"] or 0)
        except ValueError:
            raise CourseError(f"{args.gradebook}: submission {name}: total {row['total']!r} is not a number") from None
        identifiers = set(keys[name])
        if name in student_of:
            identifiers |= set(students[student_of[name]].identifiers)
        extension = max((extensions[key] for key in identifiers if key in extensions), default=0.0)
        if policy is not None and name not in times:
            warnings.append(f"no submission time for {name}: counted on time")
        late = lateness(raw, assignment.points, times.get(name), policy, extension)
        late_rows.append({"submission": name, "submitted_at": times[name].isoformat() if name in times else "",
                          "late_days": late.late_days, "raw": number(raw), "deduction": number(late.deduction),
                          "final": number(late.final), "note": late.note})
        if name in student_of:
            grades[student_of[name]] = number(late.final)
    used = set(extensions) & {key for name in keys for key in keys[name] | (
        set(students[student_of[name]].identifiers) if name in student_of else set())}
    for key in sorted(set(extensions) - used):
        warnings.append(f"extension for {key} matches no submission")

    if args.format == "canvas":
        text = canvas_csv(students, args.column, grades, None if args.no_points_possible else number(assignment.points))
    else:
        text = moodle_csv(students, args.id_column, args.column, grades)
    out = Path(args.out)
    write_atomic(out, text)
    late_path = Path(args.late_gradebook) if args.late_gradebook else out.with_name(f"{out.stem}-late.csv")
    write_late_gradebook(late_rows, late_path)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    for name in unmatched:
        print(f"not on the roster: {name} (give --mapping a row for it)", file=sys.stderr)
    for name, hits in ambiguous.items():
        print(f"several roster rows match {name}: left out; give --mapping a row for it", file=sys.stderr)
    missing = len(students) - len(grades)
    print(f"wrote {out}: {len(grades)} of {len(students)} students graded ({missing} without a submission, left "
          f"blank); {len(unmatched)} submissions not on the roster; late days in {late_path}")
    return 0
