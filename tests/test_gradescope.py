"""The Gradescope autograder zip: what it holds, and `run_autograder` run in a root laid out like
Gradescope's (`<root>/source`, `<root>/submission`, `<root>/results`).

The test runs the zip's own `run_autograder` with this environment's Python (AUTOGRADER_PYTHON)
instead of running `setup.sh`, which installs the same pinned packages from the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.commands.gradescope import base_model_pin, torch_pin
from autograder.engine.grading import SECRET_FILE
from autograder.commands.boot import CLI_BOOT
from conftest import ROOT, course_cli, make_submission, write_course

REFERENCE = ROOT / "solutions" / "lora"
STUBS = ROOT / "assignments" / "lora"



def build(tmp_path: Path, course_file: Path | None = None) -> Path:
    out = tmp_path / "autograder.zip"
    course = ("--course", str(course_file)) if course_file else ()
    result = course_cli(*course, "build-autograder", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_the_zip_holds_the_scripts_the_grader_and_the_solutions_and_nothing_else(tmp_path):
    archive = build(tmp_path)
    with zipfile.ZipFile(archive) as bundle:
        names = set(bundle.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in bundle.infolist()}
        setup = bundle.read("setup.sh").decode()
        run = bundle.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "course.yml", "pyproject.toml", "autograder/commands/cli.py",
            "autograder/parts/lora/checks.py", "autograder/parts/lora/probes.py", "autograder/sandbox/launcher.py",
            "autograder/runtime/worker.py", "autograder/core/models.py",
            "solutions/lora/lora_lab/lora.py", "solutions/lora/lora_lab/chat.html", "solutions/lora/lecture.ipynb",
            "autograder/parts/notebook/lecture/questions.json", "autograder/parts/notebook/checks.py"} <= names
    assert not any(name.startswith(("tests/", "assignments/", "benchmarks/", "autograder/tools/")) or "__pycache__" in name
                   for name in names)
    with zipfile.ZipFile(archive) as bundle:  # the seeds' secret salt goes with the grader, as this course has it
        assert bundle.read(SECRET_FILE).strip() == (ROOT / SECRET_FILE).read_bytes().strip()
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert f"{torch_pin(ROOT / 'pyproject.toml')} --index-url https://download.pytorch.org/whl/cpu" in setup
    assert f"--no-deps {base_model_pin(ROOT / 'pyproject.toml')}" in setup and '"$SOURCE"' in setup
    assert "AUTOGRADER_ROOT:-/autograder" in run and " -I -c " in run and "run-autograder" in run
    assert build(tmp_path / "again").read_bytes() == archive.read_bytes()  # reproducible


def only_matmul_with_relu_after_due_date(data: dict) -> None:
    """course.yml edit: one part (fast to grade), and its relu check shown only after the due date."""
    lora = data["assignments"]["lora"]
    lora["parts"] = lora["parts"][:1]
    next(check for check in lora["parts"][0]["checks"] if check["id"] == "relu")["visibility"] = "after_due_date"


def gradescope_root(tmp_path: Path, archive: Path) -> Path:
    root = tmp_path / "gradescope"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    return subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True, env=env,
                          cwd=root / "submission", timeout=300)


def test_run_autograder_grades_the_submission_with_course_yml_visibility(tmp_path):
    course_file = write_course(tmp_path / "course", only_matmul_with_relu_after_due_date)
    root = gradescope_root(tmp_path, build(tmp_path, course_file))
    # Gradescope unpacks an upload as it comes: here lora_lab/ one folder down, with a bug in relu, and
    # code that tries to plant a fake result and to reach the grader's files while it is graded.
    results = root / "results"
    source = (REFERENCE / "lora_lab" / "matmul.py").read_text()
    hostile = (f"import pathlib\n"
               f"for target in ({str(results / 'results.json')!r}, {str(results / 'planted.json')!r}):\n"
               f"    try:\n        pathlib.Path(target).write_text('{{\"score\": 999}}')\n"
               f"    except OSError:\n        pass\n")
    buggy = source.replace("return [[value if value > 0 else 0.0 for value in row] for row in matrix]",
                           "return [[abs(value) for value in row] for row in matrix]")
    make_submission(REFERENCE, root / "submission" / "my-work", {"matmul.py": buggy + "\n" + hostile})
    (root / "submission" / "autograder").mkdir()  # a student-made grader package: never imported
    (root / "submission" / "autograder" / "__init__.py").write_text("raise SystemExit('imported the student copy')\n")

    result = run_autograder(root)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((results / "results.json").read_text())
    assert (data["score"], data["max_score"]) == (9, 10)
    tests = {test["name"]: test for test in data["tests"]}
    assert set(tests) == {f"matmul/{name}" for name in
                          ("square", "rectangular", "invalid_shapes", "add_bias", "relu", "pure_python")}
    assert tests["matmul/relu"]["visibility"] == "after_due_date" and tests["matmul/relu"]["status"] == "failed"
    assert tests["matmul/square"]["visibility"] == "visible" and data["visibility"] == "visible"
    # The summary everyone sees gives nothing of the hidden check away; its feedback is in its own test.
    assert "relu" not in data["output"] and "not shown here yet (after_due_date): 1 checks (1 points)" in data["output"]
    assert "entry [0][0] is 1.5, expected 0.0" in tests["matmul/relu"]["output"]
    if "sandbox:" not in data["output"]:  # where namespaces are granted the worker never sees results/
        assert sorted(path.name for path in results.iterdir()) == ["results.json"]


def test_run_autograder_explains_a_submission_it_cannot_grade(tmp_path):
    course_file = write_course(tmp_path / "course", only_matmul_with_relu_after_due_date)
    root = gradescope_root(tmp_path, build(tmp_path, course_file))
    (root / "submission" / "README.txt").write_text("my code is on my laptop")
    result = run_autograder(root)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0 and data["tests"] == [] and "no lora_lab/ folder" in data["output"]
    # the instructor's tooling is not in the zip: its commands say so in one line
    source = root / "source"
    result = subprocess.run([sys.executable, "-I", "-c", CLI_BOOT, str(source), "--course", str(source / "course.yml"),
                             "persona", "eval"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.startswith("course: error: this copy of the grader has no instructor tooling")


def test_a_submission_linking_out_of_itself_is_refused(tmp_path, grade_folder):
    from autograder.engine.submission import SubmissionError

    folder = tmp_path / "sub"
    (folder / "lora_lab").mkdir(parents=True)
    shutil.copy(REFERENCE / "lora_lab" / "__init__.py", folder / "lora_lab")
    (folder / "lora_lab" / "matmul.py").symlink_to(REFERENCE / "lora_lab" / "matmul.py")
    report = grade_folder(folder, parts=["matmul"])  # the link is never read: the module is missing
    assert report.score == 0 and "submission: lora_lab/matmul.py left out: it is a symbolic link" in report.notes[0]
    (tmp_path / "outer").mkdir()
    (tmp_path / "outer" / "lora_lab").symlink_to(REFERENCE / "lora_lab")
    with pytest.raises(SubmissionError, match="lora_lab is a symbolic link"):
        grade_folder(tmp_path / "outer", parts=["matmul"])
