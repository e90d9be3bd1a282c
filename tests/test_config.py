"""course.yml validation: every problem is reported with file, key and reason, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder.core.config import ConfigError

from autograder.parts import load_course
from conftest import ROOT, write_course


def problems(tmp_path: Path, mutate) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_course(write_course(tmp_path, mutate))
    return error.value.problems


def test_the_real_course_file_is_valid():
    course = load_course(ROOT / "course.yml")
    assignment = course.assignment("lora")
    assert [part.id for part in assignment.parts][:3] == ["matmul", "linear", "lowrank"]
    assert {part.id: part.points for part in assignment.parts}["lowrank"] == 15
    assert all(spec.id.startswith(f"{part.id}/") for part in assignment.parts for spec in part.checks)


def test_unknown_keys_are_named(tmp_path):
    def mutate(data):
        data["assignments"]["lora"]["parts"][0]["pionts"] = 3
        data["extra"] = 1
    found = problems(tmp_path, mutate)
    assert "assignments.lora.parts[0].pionts: unknown key" in " ".join(found)
    assert any(p.startswith("(top level).extra: unknown key") for p in found)


def test_non_positive_points_are_reported(tmp_path):
    def mutate(data):
        data["assignments"]["lora"]["parts"][1]["points"] = 0
        data["assignments"]["lora"]["parts"][1]["checks"][0]["points"] = -2
    found = problems(tmp_path, mutate)
    assert any(p.startswith("assignments.lora.parts[1].points: must be a number greater than 0, got 0") for p in found)
    assert any(p.startswith("assignments.lora.parts[1].checks[0].points: must be a number greater than 0") for p in found)


def test_points_must_add_up(tmp_path):
    def mutate(data):
        data["assignments"]["lora"]["parts"][0]["points"] = 12
    assert "assignments.lora.parts[0].points: is 12 but its checks add up to 10" in problems(tmp_path, mutate)


def test_missing_module_and_unknown_check_are_reported_together(tmp_path):
    def mutate(data):
        data["assignments"]["lora"]["parts"][2]["module"] = "lora_lab.nonexistent"
        data["assignments"]["lora"]["parts"][0]["checks"][1]["id"] = "no_such_check"
    found = problems(tmp_path, mutate)
    assert any("parts[2].module: lora_lab.nonexistent has no file lora_lab/nonexistent.py" in p for p in found)
    assert any("parts[0].checks[1].id: no hidden check named 'matmul/no_such_check'" in p for p in found)
    assert len(found) >= 2


def test_bad_yaml_and_missing_file(tmp_path):
    broken = tmp_path / "course.yml"
    broken.write_text("course: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        load_course(broken)
    assert "is not valid YAML" in error.value.problems[0]
    with pytest.raises(ConfigError) as error:
        load_course(tmp_path / "absent.yml")
    assert "cannot be read" in error.value.problems[0]


def test_cli_reports_problems_without_a_traceback(tmp_path):
    path = write_course(tmp_path, lambda data: data["assignments"]["lora"]["parts"][0].update(points=-1))
    result = subprocess.run([sys.executable, "-m", "autograder", "--course", str(path), "validate"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path} is invalid" in result.stderr
    assert "parts[0].points: must be a number greater than 0, got -1" in result.stderr


def test_cli_validate_on_the_real_file():
    result = subprocess.run([sys.executable, "-m", "autograder", "--course", str(ROOT / "course.yml"), "validate"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "assignment 'lora'" in result.stdout


def test_a_notebook_part_needs_no_module_but_an_existing_notebook(tmp_path):
    course = load_course(ROOT / "course.yml")
    part = course.assignment("lora").part("notebook")
    assert part.notebook == "lecture.ipynb" and part.modules == ()

    def mutate(data):
        notebook = next(p for p in data["assignments"]["lora"]["parts"] if p["id"] == "notebook")
        notebook["notebook"] = "missing.ipynb"
        notebook["checks"].append({"id": "q99_nothing", "points": 1})
    found = problems(tmp_path, mutate)
    index = [part.id for part in course.assignment("lora").parts].index("notebook")
    assert any(f"parts[{index}].notebook: missing.ipynb does not exist" in p for p in found)
    assert any("no hidden check named 'notebook/q99_nothing'" in p for p in found)


def test_the_cluster_section_is_validated(tmp_path):
    assert load_course(ROOT / "course.yml").cluster.gpu_partition == "gpu"

    def mutate(data):
        data["cluster"] = {"partition": "a b", "time": "forever", "mem": "lots", "cpus_per_task": 0, "nodes": 3}
    found = problems(tmp_path, mutate)
    for key, reason in (("partition", "must be a partition name"), ("time", "must be a Slurm time limit"),
                        ("mem", "must be a memory size"), ("cpus_per_task", "must be a whole number"),
                        ("nodes", "unknown key")):
        assert any(p.startswith(f"cluster.{key}: {reason}") for p in found), (key, found)


def drop_relu(data):
    """matmul without its relu check (points adjusted, so the file is otherwise valid)."""
    matmul = data["assignments"]["lora"]["parts"][0]
    relu = next(check for check in matmul["checks"] if check["id"] == "relu")
    matmul["checks"].remove(relu)
    matmul["points"] -= relu["points"]


def test_course_yml_and_the_registry_are_checked_both_ways(tmp_path):
    """A check course.yml lists with no code, and one registered in a part's folder but not listed (it
    would silently never run): each is one line of `course validate`, exit 2, no traceback."""
    def mutate(data):
        drop_relu(data)
        data["assignments"]["lora"]["parts"][0]["checks"].append({"id": "transpose", "points": 1})
        data["assignments"]["lora"]["parts"][0]["points"] += 1
    path = write_course(tmp_path, mutate)
    result = subprocess.run([sys.executable, "-m", "autograder", "--course", str(path), "validate"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if "matmul/transpose" in line] == [
        "  assignments.lora.parts[0].checks[5].id: no hidden check named 'matmul/transpose' exists in "
        f"autograder/parts/matmul/checks.py"]
    assert [line for line in lines if "matmul/relu" in line] == [
        "  assignments.lora.parts[0].checks: hidden check 'matmul/relu' is registered in autograder/parts/matmul/ "
        f"but not listed here, so it would never run (list it with its points, or delete it)"]
    (tmp_path / "alone").mkdir()
    assert len(problems(tmp_path / "alone", drop_relu)) == 1


def test_every_part_folder_is_a_part_of_course_yml_and_back(assignment):
    from autograder.parts import CHECKS, PARTS

    assert set(PARTS) == {part.id for part in assignment.parts}
    assert set(CHECKS) == {spec.id for part in assignment.parts for spec in part.checks}
