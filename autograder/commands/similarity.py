"""``course similarity SUBMISSIONS_DIR --out DIR``: which submissions share code beyond the starter code.

Reads every folder and ``.zip`` of the class (as ``grade-all`` finds them) through the grader's safe
reader, compares every module of the package and the notebook's code cells, and writes ``DIR/pairs.csv``,
``DIR/clusters.csv``, ``DIR/unreadable.csv`` and ``DIR/report.html`` (see
:mod:`autograder.tools.similarity`). Nothing leaves the machine. A flag is a reason to look, never a verdict.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Callable

from ..core.config import Course
from ..core.errors import CourseError
from .grade_all import find_submissions


def add_parser(commands, load: Callable[[argparse.Namespace], Course]) -> None:
    """Add the command to ``course``'s subcommands; ``load`` reads course.yml as the CLI was told to."""
    parser = commands.add_parser("similarity", help="pairs of submissions that share code beyond the starter code "
                                                    "(pairs.csv, clusters.csv, report.html)")
    parser.add_argument("submissions", help="a folder holding one folder or .zip per submission")
    parser.add_argument("--out", default="similarity", help="folder of the report (default: similarity/)")
    parser.add_argument("--threshold", type=float, help="flag pairs at or above this similarity "
                                                         "(default: similarity.threshold of course.yml)")
    parser.add_argument("--jobs", type=int, help="processes measuring pairs (default: the cores this process may use)")
    parser.set_defaults(run=functools.partial(run, load=load))


def _progress(total: int):
    """A tqdm bar on stderr when it is a terminal, else a line every 50 submissions."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, desc="reading", unit="submission", file=sys.stderr)
        return bar.update, bar.close
    count = [0]

    def step(_name: str = "") -> None:
        count[0] += 1
        if count[0] % 50 == 0 or count[0] == total:
            print(f"read {count[0]}/{total} submissions", file=sys.stderr, flush=True)

    return step, lambda: None


def run(args: argparse.Namespace, load: Callable[[argparse.Namespace], Course]) -> int:
    try:
        from ..tools.similarity.corpus import analyse, clusters, default_jobs, read_submission, starter_documents
        from ..tools.similarity.report import write_report
    except ModuleNotFoundError:   # the Gradescope zip leaves the instructor's tooling out
        raise CourseError("this copy of the grader has no instructor tooling (autograder/tools/ is left out of the "
                          "Gradescope zip); run `course similarity` from the course repository") from None
    from ..engine.submission import SubmissionError

    course = load(args)
    assignment = course.assignment(args.assignment)
    threshold = course.similarity.threshold if args.threshold is None else args.threshold
    if not 0 < threshold <= 1:
        raise CourseError(f"--threshold must be above 0 and at most 1, got {threshold:g}")
    if args.jobs is not None and args.jobs < 1:
        raise CourseError("--jobs must be at least 1")
    entries, skipped = find_submissions(Path(args.submissions))
    for name in skipped:
        print(f"skipped {name}: neither a folder nor a .zip", file=sys.stderr)
    step, close = _progress(len(entries))
    try:
        analysis = analyse([(entry.name, entry.path) for entry in entries], assignment, threshold,
                           max_share=course.similarity.max_share, progress=lambda name: step(1),
                           jobs=args.jobs or default_jobs())
    finally:
        close()

    def load_again(name: str):
        try:
            return read_submission(analysis.paths[name], assignment.package)
        except SubmissionError:
            return None

    out = Path(args.out)
    written = write_report(analysis, out, load_again, starter_documents(assignment))
    flagged = analysis.flagged()
    for name, why in sorted(analysis.unreadable.items()):
        print(f"not compared: {name}: {why}", file=sys.stderr)
    print(f"compared {len(analysis.names)} submissions ({len(analysis.unreadable)} unreadable): {len(flagged)} of "
          f"{len(analysis.pairs)} pairs flagged at similarity >= {threshold:g}, in {len(clusters(flagged))} clusters; "
          f"written: {', '.join(str(path) for path in written)}")
    print("a flag is a reason to look, never a verdict: read the pairs side by side in report.html")
    return 0
