"""What hostile files cost the grading process itself: points, its peak memory, the bytes it wrote, crashes.

Usage: python benchmarks/grader_reads.py [--only NAME ...] [--tree DIR] [--timeout S] [--out benchmarks/results/grader_reads.json]

Builds the submission of each exploit of tests/exploits/ that attacks the grading process (its
``FILES`` or its result files and leftovers) exactly as the audit does, then grades its part in a fresh
``python`` process running the grader found in ``--tree`` (this checkout by default; an older checkout
shows the "before"), and records: the points, how that process ended (a crash is its exception), its
peak resident memory (``ru_maxrss``), the bytes it wrote to disk (``/proc/self/io``) and the largest
drop of the machine's available memory while it ran (the worker tree included). The grading process
runs with a 1.5 GB file-size limit, so that a grader that copies ``/dev/zero`` stops there. Once graded,
the child renders the table and ``results.json`` as ``course grade --out`` does: their sizes and the CPU
seconds of grading plus rendering (``cpu_s``) are recorded too (issue 27: a 4 MB message took 75 s to wrap).
A grade that does not end within ``--timeout`` seconds is recorded as such. ``zip_duplicate_member`` is
the reference zipped with one member twice (graded as a .zip).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from pathlib import Path

from autograder.commands.audit import _reference_copy, load_exploit, make_files
from autograder.parts import load_course
from common import RESULTS, write_results

ROOT = Path(__file__).resolve().parent.parent
CASES = ["notebook_link_to_master", "matmul_link_to_dev_zero", "matmul_sparse_file", "matmul_special_files",
         "matmul_name_not_utf8", "matmul_expanding_results", "matmul_deep_folders", "matmul_read_launch_config",
         "matmul_memory_across_processes",
         # issue 27: hostile result files and worker strings, an unreadable zip
         "matmul_unterminated_result_string", "matmul_huge_integer_result", "matmul_unknown_dtype_result",
         "matmul_huge_exception_message", "matmul_control_chars_in_feedback", "matmul_judge_traceback",
         "zip_duplicate_member", "reference"]
FILE_LIMIT = 1536 * 2**20
CHILD = r"""
import json, resource, sys, traceback
from pathlib import Path
sys.setrecursionlimit(1000)
result = {}
try:
    from autograder.parts import load_course
    from autograder.engine.grading import grade
    from autograder.engine.submission import open_submission, SubmissionError
    course = load_course(Path(sys.argv[1]))
    assignment = course.assignment()
    try:
        with open_submission(sys.argv[2], assignment.package) as submission:
            report = grade(course, assignment, submission, seed=20261127, parts=[sys.argv[3]])
        part = report.parts[0]
        result.update(points=part.score, max=part.max_score,
                      notes=[note[:300] for note in report.notes + part.notes])
        from autograder.output.results import render_table, to_gradescope
        table = render_table(report)
        results = json.dumps(to_gradescope(report), indent=2)
        result.update(table_kb=round(len(table.encode()) / 1024, 1), results_kb=round(len(results.encode()) / 1024, 1),
                      control_chars=sum(table.count(c) for c in "\x1b\r\x07"),
                      traceback_shown="Traceback" in table)
    except SubmissionError as error:
        result.update(points=0, refused=str(error))
except BaseException as error:
    result["crash"] = f"{type(error).__name__}: {str(error)[:200]}"
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
result.update(rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              written_mb=round(int(io["write_bytes"]) / 2**20, 1))
cpu = resource.getrusage(resource.RUSAGE_SELF)
result["cpu_s"] = round(cpu.ru_utime + cpu.ru_stime, 1)
print("RESULT " + json.dumps(result))
"""


def _available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def measure(tree: Path, folder: Path, part: str, timeout: float = 900) -> dict:
    """Grade ``folder`` on ``part`` with the grader of ``tree`` in a child process; its figures."""
    start, lowest, done = _available_kb(), [_available_kb()], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            lowest[0] = min(lowest[0], _available_kb())

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    began = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))  # noqa: E731
    try:
        ran = subprocess.run([sys.executable, "-c", CHILD, str(tree / "course.yml"), str(folder), part],
                             capture_output=True, text=True, env=env, preexec_fn=limit, timeout=timeout, cwd=tree)
        lines = [line for line in ran.stdout.splitlines() if line.startswith("RESULT ")]
        result = json.loads(lines[-1][7:]) if lines else {"crash": f"exit {ran.returncode}: {ran.stderr[-300:]}"}
        result["exit"] = ran.returncode
    except subprocess.TimeoutExpired:
        result = {"crash": f"did not finish within {timeout:g} s"}
    done.set()
    watcher.join()
    result.update(seconds=round(time.monotonic() - began, 1), machine_memory_drop_mb=round((start - lowest[0]) / 1024))
    return result


def duplicate_member_zip(folder: Path, path: Path, package: str) -> Path:
    """``folder`` zipped to ``path`` with its package's ``matmul.py`` in it twice."""
    with zipfile.ZipFile(path, "w") as bundle, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile warns of the duplicate name it writes
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                bundle.write(file, file.relative_to(folder).as_posix())
        bundle.writestr(f"{package}/matmul.py", "raise SystemExit('the second copy')\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="exploit names to run (see CASES); all by default")
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose grader grades (default: this one)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one grade may take (default 900)")
    parser.add_argument("--out", default=str(RESULTS / "grader_reads.json"))
    args = parser.parse_args()
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment()
    rows = {}
    for name in args.only or CASES:
        with tempfile.TemporaryDirectory(prefix="lora-reads-") as tmp:
            folder = Path(tmp) / "submission"
            if name == "reference":
                _reference_copy(assignment, folder)
                part = "matmul"
            elif name == "zip_duplicate_member":
                _reference_copy(assignment, folder)
                folder = duplicate_member_zip(folder, Path(tmp) / "submission.zip", assignment.package)
                part = "matmul"
            else:
                entry = load_exploit(ROOT / "tests" / "exploits" / f"{name}.py", assignment,
                                     {"COURSE_ROOT": str(course.root)})
                _reference_copy(assignment, folder, entry)
                make_files(folder, entry.files)
                part = entry.part.id
            rows[name] = measure(Path(args.tree).resolve(), folder, part, args.timeout)
        row = rows[name]
        outcome = row.get("crash") or row.get("refused") or f"{row.get('points')}/{row.get('max')}"
        shown = f"  table {row['table_kb']} KB  results.json {row['results_kb']} KB" if "table_kb" in row else ""
        print(f"{name:<34} {part:<9} {outcome[:70]:<70} "
              f"rss {row['rss_mb']} MB  written {row['written_mb']} MB  machine -{row['machine_memory_drop_mb']} MB "
              f"{row['seconds']} s  cpu {row['cpu_s']} s{shown}" if "rss_mb" in row else f"{name:<34} {outcome} {row['seconds']} s",
              flush=True)
    write_results(args.out, {"tree": str(Path(args.tree).resolve()), "cases": rows})


if __name__ == "__main__":
    main()
