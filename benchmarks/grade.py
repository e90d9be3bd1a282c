"""Wall time to grade the reference solution and the student stubs, per part and in total.

Usage: python benchmarks/grade.py [--repeat 3] [--out benchmarks/results/grade.json]
Prints a table and writes JSON. Each grade runs exactly as `course grade` does (one sandboxed worker
per part, the reference probed in-process); the first repeat includes cold file caches.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from autograder.parts import load_course
from autograder.engine.grading import grade
from autograder.engine.submission import open_submission
from common import RESULTS, write_results

ROOT = Path(__file__).resolve().parent.parent


def measure(course, assignment, folder: Path, repeat: int) -> dict:
    totals, parts, score = [], {}, None
    for _ in range(repeat):
        started = time.perf_counter()
        with open_submission(folder, assignment.package) as submission:
            report = grade(course, assignment, submission)
        totals.append(time.perf_counter() - started)
        score = f"{report.score:g}/{report.max_score:g}"
        for part in report.parts:
            parts.setdefault(part.part.id, []).append(part.seconds)
    return {"score": score, "total_seconds": {"median": statistics.median(totals), "min": min(totals), "all": totals},
            "part_seconds_median": {part: statistics.median(times) for part, times in parts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "grade.json"))
    args = parser.parse_args()
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment()
    results = {"reference": measure(course, assignment, assignment.solution, args.repeat),
               "stubs": measure(course, assignment, assignment.release, args.repeat)}
    part_ids = [part.id for part in assignment.parts]
    print(f"{'submission':<12}{'score':>9}{'total median s':>16}{'total min s':>13}"
          + "".join(f"{part + ' s':>11}" for part in part_ids))
    for name, result in results.items():
        print(f"{name:<12}{result['score']:>9}{result['total_seconds']['median']:>16.2f}"
              f"{result['total_seconds']['min']:>13.2f}"
              + "".join(f"{result['part_seconds_median'][part]:>11.2f}" for part in part_ids))
    results["repeat"] = args.repeat
    write_results(args.out, results)


if __name__ == "__main__":
    main()
