"""The lecture notebook: it runs end to end, its release is stripped and deterministic, and it is graded.

The solution (master) notebook runs with the tiny model (``LORA_COURSE_TINY_MODEL=1``) and must not raise
anywhere, including its test cells, which run there as plain asserts. The student notebook, before any
work is done, must run to the end with every ``grader.check`` cell reporting failed tests rather than
crashing. Grading runs the notebook under ``otter run`` in the sandbox: the reference gets full marks
(``test_grading.py`` checks the whole grade, and the release zero), a submission without the notebook
scores zero for its questions only.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.notebook import MATERIAL, TINY_MODEL_ENV
from autograder.notebook.assign import _assign, assign_notebook, normalise_notebook
from autograder.release import build_material, build_release, drifted_files
from conftest import ROOT, scores

NOTEBOOK = "lecture.ipynb"
TIMINGS = ROOT / "benchmarks" / "results" / "notebook.json"


def execute(folder: Path, allow_errors: bool, monkeypatch) -> tuple[nbformat.NotebookNode, float]:
    """Run ``folder/lecture.ipynb`` in a fresh kernel from ``folder``, with the tiny model."""
    monkeypatch.setenv(TINY_MODEL_ENV, "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(folder / NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(folder)}})
    started = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - started


def figures(notebook: nbformat.NotebookNode) -> list[str]:
    """One line per image the notebook displayed: the titles of its plots."""
    return [" | ".join(re.findall(r'title="([^"]+)"', cell.source)) for cell in notebook.cells
            if cell.cell_type == "code" for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


def test_the_solution_notebook_runs_end_to_end_with_the_tiny_model(assignment, monkeypatch, tmp_path):
    folder = tmp_path / "solution"
    shutil.copytree(assignment.solution, folder, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    notebook, seconds = execute(folder, allow_errors=False, monkeypatch=monkeypatch)  # raises on any error
    shown = figures(notebook)
    assert len(shown) == 3, shown          # spectrum + rank-r error, trainable parameters, loss curve
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps({"solution_notebook_seconds": round(seconds, 1), "figures": shown}, indent=2) + "\n")
    print(f"solution notebook executed in {seconds:.1f} s; figures: {shown}")


def test_the_student_notebook_check_cells_fail_cleanly_before_any_work(assignment, monkeypatch, tmp_path):
    folder = tmp_path / "release"
    shutil.copytree(assignment.release, folder)
    notebook, _ = execute(folder, allow_errors=True, monkeypatch=monkeypatch)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    checks = [cell for cell in code if cell.source.startswith("grader.check(")]
    assert len(checks) == len(json.loads((MATERIAL / "questions.json").read_text()))
    assert not [o for o in code[0].outputs if o.output_type == "error"], "the otter init cell failed"
    for cell in checks:
        assert not [o for o in cell.outputs if o.output_type == "error"], f"{cell.source} crashed"
        shown = " ".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in cell.outputs)
        assert "Test case failed" in shown, f"{cell.source} did not report failed tests: {shown[:300]}"


def test_the_release_holds_the_stripped_notebook_and_no_hidden_test(assignment):
    student = build_release(assignment)[NOTEBOOK].decode()
    master = json.loads((assignment.solution / NOTEBOOK).read_text())
    solution_lines, other_lines = set(), set()
    for cell in master["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            inside = (inside or line.strip() == "# BEGIN SOLUTION") and line.strip() != "# END SOLUTION"
            (solution_lines if inside else other_lines).add(line.strip())
    solution_lines -= other_lines | {"", "# BEGIN SOLUTION"}   # e.g. a `for r in r_values:` also used elsewhere
    cells = json.loads(student)["cells"]
    student_lines = {line.strip() for cell in cells for line in "".join(cell["source"]).splitlines()}
    assert len(solution_lines) > 20 and not solution_lines & student_lines
    hidden = [case["code"] for path in sorted((MATERIAL / "tests").glob("*.py"))
              for suite in _test_dict(path)["suites"] for case in suite["cases"] if case["hidden"]]
    released = "".join(content.decode() for name, content in build_release(assignment).items() if name.endswith(".py"))
    assert len(hidden) >= 8 and not any(case.strip().removeprefix(">>> ") in student + released for case in hidden)
    assert all(f"tests/{path.name}" in build_release(assignment) for path in (MATERIAL / "tests").glob("*.py"))
    assert sum("".join(cell["source"]).startswith('grader.check("') for cell in cells) == len(list(MATERIAL.glob("tests/*.py")))


def _test_dict(path: Path) -> dict:
    tree = ast.parse(path.read_text())
    return next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and node.targets[0].id == "test")


def test_otter_assign_is_deterministic_and_drift_is_detected(assignment, tmp_path):
    master = assignment.solution / NOTEBOOK
    first = assign_notebook(master)
    again = _assign.__wrapped__(master.name, master.read_bytes())  # a second, uncached run of otter assign
    assert first == again
    assert normalise_notebook(first.student) == first.student
    material = build_material(assignment)
    assert drifted_files(material, MATERIAL) == []
    copy = tmp_path / "material"
    shutil.copytree(MATERIAL, copy)
    (copy / "tests" / "q1_matmul.py").write_text("stale\n")
    assert drifted_files(material, copy) == ["changed: tests/q1_matmul.py"]
    release = tmp_path / "release"
    shutil.copytree(assignment.release, release)
    (release / NOTEBOOK).write_text("{}\n")
    assert drifted_files(build_release(assignment), release) == [f"changed: {NOTEBOOK}"]


def test_a_submission_without_the_notebook_scores_zero_there_only(grade_folder, reference_with):
    report = grade_folder(reference_with(), parts=["matmul", "notebook"])
    assert scores(report) == {"matmul": 10, "notebook": 0}
    notebook = report.parts[1]
    assert notebook.max_score == 16 and "has no lecture.ipynb" in notebook.notes[0]
    assert all("has no lecture.ipynb" in check.feedback for check in notebook.checks)


def test_course_grade_folds_the_notebook_questions_into_results_json(tmp_path, assignment):
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "--part", "notebook", "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text())
    assert results["score"] == results["max_score"] == 16, result.stdout
    names = [test["name"] for test in results["tests"]]
    assert names == [spec.id for spec in assignment.part("notebook").checks]
    assert all(test["tags"] == ["notebook"] and test["status"] == "passed" for test in results["tests"])


@pytest.mark.slow   # two notebook runs to their end (a crash, a 30 s hang): CI runs them with `make test-slow`
@pytest.mark.parametrize("case, source, reason", [
    ("kernel exits", "import os\nos._exit(3)", "exited"),
    ("cell hangs", "while True:\n    pass", "time budget of 30 s"),
])
def test_a_notebook_that_kills_its_kernel_or_hangs_scores_zero_with_the_reason(case, source, reason, course, assignment,
                                                                                tmp_path):
    from dataclasses import replace

    from autograder.grading import hidden_paths
    from autograder.notebook.grade import grade_notebook
    from conftest import make_submission

    root = make_submission(assignment.solution, tmp_path / "submission")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), root / NOTEBOOK)
    part = replace(assignment.part("notebook"), time_budget=30)
    started = time.monotonic()
    checks, notes = grade_notebook(part, root, assignment.package, hidden_paths(course, assignment))
    assert time.monotonic() - started < 45
    assert all(check.score == 0 and check.status == "failed" for check in checks)
    assert reason in notes[0] and reason in checks[0].feedback, notes
