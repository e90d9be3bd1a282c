"""The GPU tier: `course merge-results` puts an `--only gpu` grade in place of the GPU checks a CPU
grade could not run.

There is no CUDA device here, so the GPU grade is made by construction, and honestly so: a temporary
course.yml marks matmul/square (2 points, a check that runs anywhere) as a GPU check; the CPU grade is
a real grade in which it is not run; the "GPU" grade is a real `grade(..., gpu_only=True)` of the same
submission with `torch.cuda.is_available` patched to return True, so the check really runs, on the
CPU. The files, their provenance and the merge are what a CUDA machine's grade would give.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from autograder.parts import load_course
from autograder.engine.grading import GPU_HINT_PREFIX, grade
from autograder.output.results import write_results
from autograder.engine.submission import open_submission
from conftest import course_cli, write_course

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU grade would run the GPU checks")


def mark_square_gpu(data: dict) -> None:
    lora = data["assignments"]["lora"]
    lora["parts"] = lora["parts"][:1]
    lora["parts"][0]["checks"][0]["gpu"] = True  # matmul/square, 2 points



@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[Path, Path]:
    """cpu.json and gpu.json of the reference: real grades, the GPU one with CUDA faked (see above)."""
    folder = tmp_path_factory.mktemp("gpu-tier")
    course = load_course(write_course(folder / "course", mark_square_gpu))
    assignment = course.assignment()
    with open_submission(assignment.solution, assignment.package) as submission:
        cpu = grade(course, assignment, submission)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch.cuda, "is_available", lambda: True)
            gpu = grade(course, assignment, submission, gpu_only=True)
    assert [check.status for check in cpu.parts[0].checks][0] == "not run"
    assert [(check.spec.id, check.status) for part in gpu.parts for check in part.checks] == \
        [("matmul/square", "passed")]
    write_results(cpu, folder / "cpu.json")
    write_results(gpu, folder / "gpu.json")
    return folder / "cpu.json", folder / "gpu.json"


def test_merge_puts_the_gpu_grade_in_place_of_the_checks_not_run(graded, tmp_path):
    cpu_path, gpu_path = graded
    cpu, gpu = json.loads(cpu_path.read_text()), json.loads(gpu_path.read_text())
    assert (cpu["score"], cpu["max_score"], gpu["score"], gpu["max_score"]) == (8, 8, 2, 2)
    assert gpu["extra_data"]["provenance"]["only"] == "gpu" and any(
        line.startswith(GPU_HINT_PREFIX) for line in cpu["output"].splitlines())

    out = tmp_path / "merged.json"
    result = course_cli("merge-results", str(cpu_path), str(gpu_path), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "merged 1 GPU checks: 10 / 10" in result.stdout
    merged = json.loads(out.read_text())
    assert (merged["score"], merged["max_score"]) == (10, 10)
    assert merged["extra_data"]["parts"] == {"matmul": {"score": 10, "max_score": 10}}
    square = merged["tests"][0]
    assert (square["name"], square["number"], square["status"], square["score"], square["max_score"]) == \
        ("matmul/square", "1.1", "passed", 2, 2)
    assert merged["tests"][1:] == cpu["tests"][1:]
    assert not any(line.startswith(GPU_HINT_PREFIX) for line in merged["output"].splitlines())
    assert "GPU checks, graded on a machine with CUDA" in merged["output"]
    assert merged["extra_data"]["gpu_provenance"]["cuda_available"] is True
    assert merged["execution_time"] == pytest.approx(cpu["execution_time"] + gpu["execution_time"], abs=0.002)


def test_merge_refuses_results_that_do_not_belong_together(graded, tmp_path):
    cpu_path, gpu_path = graded
    gpu = json.loads(gpu_path.read_text())
    other = dict(gpu, extra_data={**gpu["extra_data"],
                                  "provenance": {**gpu["extra_data"]["provenance"], "submission_sha256": "0" * 64}})
    (tmp_path / "other.json").write_text(json.dumps(other))
    cases = [(str(tmp_path / "other.json"), "different submissions"),
             (str(cpu_path), "graded without CUDA"),
             (str(tmp_path / "absent.json"), "does not exist")]
    for second, message in cases:
        result = course_cli("merge-results", str(cpu_path), second, "--out", str(tmp_path / "merged.json"))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "merged.json").exists()



def test_the_slurm_backend_merges_its_two_tiers_as_merge_results_does(graded):
    """`grade-all --backend slurm` grades the GPU tier in a task of its own and merges it with this function."""
    from autograder.output.merge import merge_results
    from autograder.output.results import error_results
    from autograder.commands.slurm import combine

    cpu, gpu = (json.loads(path.read_text()) for path in graded)
    assert combine(cpu, gpu) == merge_results(cpu, gpu)
    refused = error_results("--only gpu grades the checks that need CUDA, and torch sees no CUDA device here")
    refused["extra_data"]["error_kind"] = "submission"   # what a GPU task on a node without CUDA leaves
    kept = combine(cpu, refused)
    assert (kept["score"], kept["max_score"], kept["tests"]) == (cpu["score"], cpu["max_score"], cpu["tests"])
    assert "no CUDA device" in kept["extra_data"]["gpu_tier"]["error"]
