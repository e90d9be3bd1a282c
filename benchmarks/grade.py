"""Wall time to grade the reference solution and the student stubs, per part and in total.

Usage: python benchmarks/grade.py [--repeat 3] [--out benchmarks/results/grade.json]
Prints a table and writes JSON, for the reference, a submission written another way throughout (the
first alternate of every module of the catalogue) and the stubs. Each grade runs exactly as `course grade` does (one sandboxed worker
per part, the reference probed in-process); the first repeat includes cold file caches. A second table
says where each part's time went (medians): for a probed part, the worker's start (process, sandbox,
libraries and the student's module, until its import report), the student's probes, the reference's
probes and judging; for the notebook, the runner's start, the IPython shell's start, the cells, and the master
notebook's run (0 when its values came from the cache).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from autograder.commands.audit import load_catalogue, reference_with
from autograder.parts import load_course
from autograder.engine.grading import grade
from autograder.engine.submission import open_submission
from common import RESULTS, write_results

ROOT = Path(__file__).resolve().parent.parent


def measure(course, assignment, folder: Path, repeat: int) -> dict:
    totals, parts, timings, score = [], {}, {}, None
    for _ in range(repeat):
        started = time.perf_counter()
        with open_submission(folder, assignment.package) as submission:
            report = grade(course, assignment, submission)
        totals.append(time.perf_counter() - started)
        score = f"{report.score:g}/{report.max_score:g}"
        for part in report.parts:
            parts.setdefault(part.part.id, []).append(part.seconds)
            for name, seconds in part.timings.items():
                timings.setdefault(part.part.id, {}).setdefault(name, []).append(seconds)
    return {"score": score, "total_seconds": {"median": statistics.median(totals), "min": min(totals), "all": totals},
            "part_seconds_median": {part: statistics.median(times) for part, times in parts.items()},
            "part_timings_median": {part: {name: statistics.median(values) for name, values in named.items()}
                                    for part, named in timings.items()}}


def written_another_way(assignment, folder: Path) -> Path:
    """A typical correct student submission: the reference with the first alternate of every module
    (`tests/parts/<part>/alternates/`, each written independently) in its place."""
    chosen = {}
    for entry in load_catalogue(ROOT / "tests", assignment):
        if entry.kind == "alternate":
            chosen.setdefault(entry.module, entry)
    reference_with(assignment, folder / "alternates", list(chosen.values()))
    return folder / "alternates"


def print_timings(results: dict) -> None:
    """Where each part's time went, one row per submission and part."""
    names = sorted({name for result in results.values() for named in result["part_timings_median"].values()
                    for name in named})
    widths = [max(8, len(name)) + 1 for name in names]
    print(f"\n{'submission':<12}{'part':<10}{'part s':>8}" + "".join(f"{name:>{width}}" for name, width in zip(names, widths)))
    for submission, result in results.items():
        for part, named in result["part_timings_median"].items():
            print(f"{submission:<12}{part:<10}{result['part_seconds_median'][part]:>8.2f}"
                  + "".join(f"{named[name]:>{width}.2f}" if name in named else f"{'':>{width}}"
                            for name, width in zip(names, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "grade.json"))
    args = parser.parse_args()
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment()
    with tempfile.TemporaryDirectory(prefix="grade-benchmark-") as tmp:
        student = written_another_way(assignment, Path(tmp))
        results = {"reference": measure(course, assignment, assignment.solution, args.repeat),
                   "alternates": measure(course, assignment, student, args.repeat),
                   "stubs": measure(course, assignment, assignment.release, args.repeat)}
    part_ids = [part.id for part in assignment.parts]
    print(f"{'submission':<12}{'score':>9}{'total median s':>16}{'total min s':>13}"
          + "".join(f"{part + ' s':>11}" for part in part_ids))
    for name, result in results.items():
        print(f"{name:<12}{result['score']:>9}{result['total_seconds']['median']:>16.2f}"
              f"{result['total_seconds']['min']:>13.2f}"
              + "".join(f"{result['part_seconds_median'][part]:>11.2f}" for part in part_ids))
    print_timings(results)
    results["repeat"] = args.repeat
    write_results(args.out, results)


if __name__ == "__main__":
    main()
