"""Grade the notebook part: the submitted notebook runs under ``otter run`` in the sandbox.

The pipeline is the probes' own, in one direction: the submission (notebook and package) is zipped into
a fresh work folder with otter's tests, :func:`autograder.sandbox.command.run_command` runs
:mod:`.runner` there under the part's time and memory budget (loopback only, for the kernel), and the
grading process reads back otter's ``results.json`` as plain data, validates it, and scores each question
as a fraction of its points in ``course.yml``. Hidden tests never reach the feedback: a failed question
shows its public tests' report, or says how many hidden tests failed.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..checks.base import CHECKS
from ..config import Part
from ..judge import CheckResult
from ..sandbox import Limits, policy
from ..sandbox.command import run_command
from . import MATERIAL, TINY_MODEL_ENV, runner

MAX_RESULTS_BYTES = 4 * 1024 * 1024
MAX_FEEDBACK = 1500


def find_notebook(root: Path, name: str) -> Path | None:
    """``name`` in the submission folder ``root``, or the first one found up to three folders down."""
    if (root / name).is_file():
        return root / name
    found = sorted(path for depth in range(1, 4) for path in root.glob("/".join(["*"] * depth + [name])))
    return found[0] if found else None


def grade_notebook(part: Part, root: Path, package: str, hide: list[Path]) -> tuple[list[CheckResult], list[str]]:
    """The results of ``part``'s questions for the submission folder ``root``, and notes for the report."""
    notebook = find_notebook(root, part.notebook)
    if notebook is None:
        why = (f"your submission has no {part.notebook}, so its questions score zero (the rest is graded "
               f"as usual); put the notebook next to {package}/ (make_submission.py does)")
        return [_result(part, spec.id, 0.0, why) for spec in part.checks], [why]
    with tempfile.TemporaryDirectory(prefix="lora-notebook-") as tmp:
        workdir = Path(tmp)
        (workdir / "runtime").mkdir()
        _bundle_submission(workdir / "submission.zip", notebook, root / package, package)
        _bundle_autograder(workdir / "autograder.zip")
        shutil.copy(runner.__file__, workdir / "runtime" / "notebook_runner.py")
        code = (f"import sys; sys.path.insert(0, {str(workdir / 'runtime')!r}); from pathlib import Path; "
                f"from notebook_runner import main; main(Path({str(workdir)!r}))")
        env = {TINY_MODEL_ENV: "1", "JUPYTER_RUNTIME_DIR": str(workdir / "scratch" / "jupyter"),
               "IPYTHONDIR": str(workdir / "scratch" / "ipython"), "JUPYTER_PLATFORM_DIRS": "1"}
        limits = Limits(wall_seconds=part.time_budget, memory_mb=part.memory_mb, processes=128)
        ran = run_command(workdir, code, limits, hide, ("submission.zip", "autograder.zip", "runtime"), env=env,
                          loopback=True)
        scores, problem = _read_results(workdir / "out" / "results.json")
    notes = []
    if problem:  # its output is not shown: a notebook could print the hidden tests it can read in there
        notes.append(f"the grader could not run {part.notebook}: {ran.stopped or problem}; make sure it runs "
                     f"from top to bottom with {TINY_MODEL_ENV}=1 (Restart & Run All), as the grader runs it")
    isolation_problems = ran.isolation.get("problems")
    if isolation_problems:
        notes.append("sandbox: " + "; ".join(isolation_problems))
    results = []
    for spec in part.checks:
        question = spec.id.split("/", 1)[1]
        if problem:
            results.append(_result(part, spec.id, 0.0, f"not graded: {ran.stopped or problem}"))
        elif question not in scores:
            results.append(_result(part, spec.id, 0.0, f"otter reported no result for {question}"))
        else:
            fraction, feedback = scores[question]
            results.append(_result(part, spec.id, fraction, feedback))
    return results, notes


def _result(part: Part, check_id: str, fraction: float, feedback: str) -> CheckResult:
    spec = next(spec for spec in part.checks if spec.id == check_id)
    status = "passed" if fraction == 1.0 else "failed"
    return CheckResult(spec, CHECKS[check_id].title, round(fraction * spec.points, 4), status,
                       "" if status == "passed" else feedback)


def _bundle_submission(target: Path, notebook: Path, package_dir: Path, package: str) -> None:
    """The notebook (as ``<part notebook name>``) and the student's package, as otter takes a submission."""
    with zipfile.ZipFile(target, "w") as bundle:
        bundle.write(notebook, notebook.name)
        if package_dir.is_dir():
            for path in sorted(package_dir.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    bundle.write(path, f"{package}/{path.relative_to(package_dir).as_posix()}")


def _bundle_autograder(target: Path) -> None:
    """Otter's autograder zip: the config, every question's tests, and the tiny model as a support file."""
    with zipfile.ZipFile(target, "w") as bundle:
        for path in sorted(MATERIAL.rglob("*")):
            relative = path.relative_to(MATERIAL).as_posix()
            if relative == "otter_config.json" or re.fullmatch(r"tests/\w+\.py", relative):
                bundle.write(path, relative)
        for name, path in policy.SUPPORT_FILES.items():
            bundle.write(path, f"files/{name}")


def _read_results(path: Path) -> tuple[dict[str, tuple[float, str]], str]:
    """Otter's ``results.json`` as ``{question: (fraction, feedback)}``, or a problem that explains why not."""
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            return {}, "otter's results were too large to read"
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, "otter wrote no results (the notebook could not be executed)"
    except (OSError, ValueError) as error:
        return {}, f"otter's results could not be read ({error})"
    tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(tests, list) or not all(isinstance(test, dict) for test in tests):
        return {}, "otter's results were malformed"
    public = next((str(test.get("output", "")) for test in tests if test.get("name") == "Public Tests"), "")
    scores = {}
    for test in tests:
        name, score, most = test.get("name"), test.get("score"), test.get("max_score")
        if not isinstance(name, str) or name == "Public Tests":
            continue
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (score, most)) or most <= 0:
            continue
        fraction = min(1.0, max(0.0, float(score) / float(most)))
        scores[name] = (fraction, _feedback(name, public, str(test.get("output", ""))))
    return scores, ""


def _feedback(question: str, public: str, full: str) -> str:
    """What a student may read about ``question``: each failed public test and its error, and how many
    hidden tests failed, never a hidden test's code."""
    section = re.search(rf"^{re.escape(question)} results:.*?(?=^\w+ results:|\Z)", public, re.S | re.M)
    failures = _failed_cases(section.group(0) if section else "")
    hidden_failed = len(_failed_cases(full)) - len(failures)
    lines = [f"public test failed: {test} -> {error}" for test, error in failures]
    if not failures:
        lines.append(f"the public tests of {question} (its grader.check cell) pass")
    if hidden_failed > 0:
        lines.append(f"{hidden_failed} hidden test(s) of {question} failed")
    shown = "\n".join(lines)
    return shown if len(shown) <= MAX_FEEDBACK else shown[:MAX_FEEDBACK] + " ..."


def _failed_cases(report: str) -> list[tuple[str, str]]:
    """``(test code, error)`` for every failed doctest case in an otter report."""
    failed = []
    for case in re.split(r"^\s*\S+ - \d+ result:\s*$", report, flags=re.M)[1:]:
        if "Test case failed" not in case:
            continue
        example = re.search(r"Failed example:\n(.*?)\n\s*(?:Exception raised|Expected)", case, re.S)
        code = " ".join(example.group(1).split()) if example else "?"
        lines = [line.strip() for line in case.strip().splitlines() if line.strip()]
        failed.append((code, lines[-1] if lines else "failed"))
    return failed
