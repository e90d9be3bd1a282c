"""Where courses grade, rehearsed: the reference, the stubs and the exploit corpus in each environment.

Usage (as root, with the cgroup v1 memory and cpu hierarchies, as on CI):
    python benchmarks/gradescope.py [--env gradescope gradescope-recommended gradescope-unlimited no-userns]
                                    [--exploits subset|all|none] [--out benchmarks/results/gradescope.json]

Environments (.ci/gradescope-container, .ci/no-userns):
  gradescope            Gradescope's default container: 768 MB for the whole tree, 0.5 core, Docker's
                        capabilities and namespace rule, cgroups read-only; the grader is root
  gradescope-recommended  the settings the README recommends: 2048 MB, 1 CPU (warm workers)
  gradescope-unlimited  the default container without a memory limit (measured only)
  gradescope-no-quota   the default container without its CPU quota (for --exploits all: its 12 minutes of CPU
                        take 25 or more at half a core)
  no-userns             an ordinary user (uid 65534) whose user namespaces are refused, no limits

In each: the autograder zip (`course build-autograder`) unpacked into a root laid out like Gradescope's,
setup.sh's uid barrier applied (the source folder root's alone; the installs themselves need the network
and are not rehearsed: the interpreter is this repository's .venv), then `run_autograder` on the reference
(solutions/lora) and on the stubs (assignments/lora): score, peak memory of the whole tree (the cgroup's
memory.max_usage_in_bytes, page cache included), wall time, processes killed for memory. Then the exploit
corpus (benchmarks/exploits.py --each-alone: each exploit graded, then the reference graded after or beside
it, in an auditing process of their own) run inside the same environment, a subset (--exploits subset, the attacks on the files and the network) or
all of it: how many held (gained nothing, harmed no one). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from common import RESULTS, write_results

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
USER = 65534
# the attacks on what the walls must keep from the worker: the reference, the secret and the checks, the
# network, other submissions, the grader's processes, and memory across processes
SUBSET = ("linear_execute_reference", "matmul_read_secret_and_installed_checks", "matmul_socket_localhost",
          "matmul_read_solutions_absolute", "matmul_read_other_submissions", "matmul_signal_grader",
          "matmul_memory_across_processes", "matmul_daemon")
ENVIRONMENTS = {
    "gradescope": [str(ROOT / ".ci" / "gradescope-container")],
    "gradescope-recommended": [str(ROOT / ".ci" / "gradescope-container"), "--memory-mb", "2048", "--cpus", "1"],
    "gradescope-unlimited": [str(ROOT / ".ci" / "gradescope-container"), "--memory-mb", "0"],
    # the whole exploit corpus takes about 12 minutes of CPU, 25 or more at half a core: the walls and the memory
    # of the default container, without its CPU quota
    "gradescope-no-quota": [str(ROOT / ".ci" / "gradescope-container"), "--cpus", "0"],
    "no-userns": [str(ROOT / ".ci" / "no-userns"), f"--uid={USER}"],
}


def build_zip(folder: Path) -> Path:
    archive = folder / "autograder.zip"
    subprocess.run([str(PYTHON), "-m", "autograder", "build-autograder", "--out", str(archive)], cwd=ROOT, check=True,
                   capture_output=True)
    return archive


def gradescope_root(folder: Path, archive: Path, submission: Path, owner: int | None) -> Path:
    """``folder`` laid out as Gradescope's /autograder: source/ (the zip, then setup.sh's uid barrier:
    root's alone), submission/ (the package and the notebook); ``owner``: everything the user's instead
    (an ordinary user runs the grader on its own copy)."""
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(folder / "source")
    (folder / "source" / "run_autograder").chmod(0o755)
    shutil.copytree(submission / "lora_lab", folder / "submission" / "lora_lab")
    for notebook in submission.glob("*.ipynb"):
        shutil.copy(notebook, folder / "submission")
    subprocess.run(["chmod", "-R", "go-rwx", str(folder / "source")], check=True)
    if owner is not None:
        subprocess.run(["chown", "-R", f"{owner}:{owner}", str(folder)], check=True)
        folder.chmod(0o755)
    return folder


def measured(harness: list[str], command: list[str], log: Path) -> dict:
    report = log.with_suffix(".measure.json")
    with log.open("w") as out:
        subprocess.run([*harness, "--report", str(report), "--", *command], stdout=out, stderr=subprocess.STDOUT,
                       timeout=3600)
    return json.loads(report.read_text())


def grade_row(name: str, harness: list[str], work: Path, archive: Path, submission: Path, label: str) -> dict:
    owner = USER if name == "no-userns" else None
    root = gradescope_root(work / f"{name}-{label}", archive, submission, owner)
    env = ["env", f"AUTOGRADER_ROOT={root}", f"AUTOGRADER_PYTHON={PYTHON}"]
    result = measured(harness, [*env, str(root / "source" / "run_autograder")], work / f"{name}-{label}.log")
    try:
        data = json.loads((root / "results" / "results.json").read_text())
    except (OSError, ValueError):
        data = {}
    provenance = data.get("extra_data", {}).get("provenance", {})
    return {"environment": name, "submission": label, "score": data.get("score"), "max_score": data.get("max_score"),
            "peak_mb": result["peak_mb"], "peak_rss_mb": result["peak_rss_mb"], "wall_s": result["wall_s"],
            "oom_kills": result["oom_kills"], "returncode": result["returncode"],
            "chosen": provenance.get("resources"), "walls": provenance.get("sandbox"),
            "message": None if data.get("tests") else data.get("output", "")[:300],
            "lost": {test["name"]: test.get("output", "")[:300] for test in data.get("tests", [])
                     if label == "reference" and test.get("score", 0) < test.get("max_score", 0)},
            "command": " ".join([*harness, "--", *env, "run_autograder"])}


def exploit_row(name: str, harness: list[str], work: Path, only: list[str] | None) -> dict:
    """benchmarks/exploits.py inside the environment; an ordinary user runs it on a copy of the repository
    of its own (the course's secret is root's)."""
    repo = ROOT
    if name == "no-userns":
        repo = work / "repository"
        if not repo.exists():
            shutil.copytree(ROOT, repo, symlinks=True, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__",
                                                                                      "results", "*.egg-info"))
            subprocess.run(["chown", "-R", f"{USER}:{USER}", str(repo)], check=True)
    out = work / f"{name}-exploits.json"
    if name == "no-userns":
        out.parent.chmod(0o755)
        out.touch()
        os.chown(out, USER, USER)
    # each exploit and its neighbour in an auditing process of their own: a fresh container for each submission
    command = ["env", f"PYTHONPATH={repo}", str(PYTHON), str(repo / "benchmarks" / "exploits.py"), "--each-alone",
               "--out", str(out), *(["--only", *only] if only else [])]
    result = measured(harness, command, work / f"{name}-exploits.log")
    try:
        rows = json.loads(out.read_text())["exploits"]
    except (OSError, ValueError, KeyError):
        rows = []
    failed = {row["name"]: [row["outcome"], f"gained {row['gained']:g}", *row["problems"],
                            *([f"the report said: {row['unreported']}"] if row.get("unreported") else [])]
              for row in rows
              if row["gained"] or row["problems"] or row["outcome"] != "blocked"}
    return {"environment": name, "exploits": len(rows), "held": len(rows) - len(failed), "failed": failed,
            "expected": len(only) if only else len(list((ROOT / "tests" / "exploits").glob("*.py"))),
            "wall_s": result["wall_s"], "peak_mb": result["peak_mb"], "oom_kills": result["oom_kills"],
            "command": " ".join([*harness, "--", *command])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="*", default=["gradescope", "gradescope-recommended", "no-userns"],
                        choices=list(ENVIRONMENTS))
    parser.add_argument("--exploits", choices=("subset", "all", "none"), default="subset")
    parser.add_argument("--no-grades", action="store_true", help="the exploits alone (no reference, no stubs)")
    parser.add_argument("--out", default=str(RESULTS / "gradescope.json"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("benchmarks/gradescope.py: run as root (the harnesses make cgroups and mounts)")
    work = Path(tempfile.mkdtemp(prefix="gradescope-rehearsal-"))
    work.chmod(0o755)
    try:
        archive = build_zip(work)
        grades, exploits = [], []
        for name in args.env:
            for label, submission in () if args.no_grades else (("reference", ROOT / "solutions" / "lora"),
                                                                   ("stubs", ROOT / "assignments" / "lora")):
                grades.append(grade_row(name, ENVIRONMENTS[name], work, archive, submission, label))
                print(json.dumps(grades[-1]), flush=True)
            if args.exploits != "none":
                exploits.append(exploit_row(name, ENVIRONMENTS[name], work, list(SUBSET) if args.exploits == "subset"
                                            else None))
                print(json.dumps(exploits[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'environment':<22} {'submission':<10} {'score':>11} {'peak MB':>8} {'wall s':>7} {'OOM kills':>9}  "
          f"exploits held")
    print("=" * 90)
    held = {row["environment"]: f"{row['held']}/{row['expected']}" for row in exploits}
    for row in grades:
        score = f"{row['score']:g}/{row['max_score']:g}" if row["max_score"] is not None else \
            (f"{row['score']:g} (stopped)" if row["score"] is not None else "no result")
        print(f"{row['environment']:<22} {row['submission']:<10} {score:>11} {row['peak_mb']:>8.0f} {row['wall_s']:>7.0f} "
              f"{row['oom_kills']:>9}  {held.get(row['environment'], '-') if row['submission'] == 'reference' else ''}")
    for row in exploits:
        print(f"{row['environment']}: {row['held']} of {row['expected']} exploits held")
        if row["failed"]:
            for exploit, why in row["failed"].items():
                print(f"{row['environment']}: {exploit} gained or harmed: {'; '.join(why)[:300]}")
    write_results(args.out, {"grades": grades, "exploits": exploits, "exploit_set": args.exploits})


if __name__ == "__main__":
    main()
