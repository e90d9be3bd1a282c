"""Wall time to grade a class: K copies of the reference solution with `course grade-all --jobs N`.

Usage: python benchmarks/grade_all.py [--copies 10 25 50] [--jobs 2] [--part matmul] [--out benchmarks/results/grade_all.json]
Prints the time per submission (each one's own wall time, from start to results file) and in total,
one row per class size, with the time per copy (constant when the time grows linearly), and writes JSON. Each copy carries a comment of its own, so every copy gets its own seed, as a real
class does; each is graded exactly as `course grade-all` grades (one `course grade` process each).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from autograder.parts import load_course
from autograder.commands.grade_all import grade_all, read_gradebook
from common import RESULTS, write_results

ROOT = Path(__file__).resolve().parent.parent


def make_class(assignment, folder: Path, copies: int) -> None:
    """``copies`` whole submissions (the package and the notebooks beside it), each a file apart."""
    for number in range(1, copies + 1):
        target = folder / f"student-{number:03d}" / assignment.package
        target.mkdir(parents=True)
        for path in sorted((assignment.solution / assignment.package).iterdir()):
            if path.is_file():
                text = path.read_bytes()
                if path.suffix == ".py":
                    text += f"\n# copy {number}\n".encode()
                (target / path.name).write_bytes(text)
        for part in assignment.parts:
            if part.notebook:
                shutil.copyfile(assignment.solution / part.notebook, target.parent / part.notebook)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[50], help="class sizes, each graded afresh")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--part", action="append", help="grade only this part (repeatable; default: all)")
    parser.add_argument("--out", default=str(RESULTS / "grade_all.json"))
    args = parser.parse_args()
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment()
    print(f"{'copies':>7}{'jobs':>6}{'total s':>10}{'total / copy s':>16}{'each median s':>15}{'each min s':>12}"
          f"{'each max s':>12}{'errors':>8}  scores")
    runs = [measure(course, assignment, copies, args.jobs, args.part) for copies in args.copies]
    write_results(args.out, runs[0] if len(runs) == 1 else {"runs": runs})


def measure(course, assignment, copies: int, jobs: int, parts: list[str] | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="grade-all-benchmark-") as tmp:
        folder = Path(tmp)
        make_class(assignment, folder / "class", copies)
        started = time.perf_counter()
        summary = grade_all(course, assignment, folder / "class", folder / "gradebook.csv", jobs=jobs,
                            parts=parts, log=lambda line: None)
        total = time.perf_counter() - started
        scores = sorted({f"{row['total']}/{row['max_score']}" for row in read_gradebook(folder / "gradebook.csv")})
    seconds = list(summary.seconds.values())
    results = {
        "copies": copies, "jobs": jobs, "parts": parts or [part.id for part in assignment.parts],
        "errors": summary.errors, "scores": scores,
        "total_seconds": total, "seconds_per_submission_of_total": total / copies,
        "submission_seconds": {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
                               "mean": statistics.fmean(seconds)},
    }
    print(f"{copies:>7}{jobs:>6}{total:>10.1f}{total / copies:>16.2f}"
          f"{results['submission_seconds']['median']:>15.2f}{min(seconds):>12.2f}{max(seconds):>12.2f}"
          f"{len(summary.errors):>8}  {', '.join(scores)}", flush=True)
    return results


if __name__ == "__main__":
    main()
