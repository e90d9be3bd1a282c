"""End to end: the reference gets full marks, the stubs get zero, results follow Gradescope's format."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from autograder.output.results import to_gradescope
from conftest import ROOT, full_scores, runnable_points, scores, write_course

GRADESCOPE_TEST_KEYS = {"name", "number", "score", "max_score", "output", "tags", "visibility"}


@pytest.fixture(scope="module")
def reference_report(course, assignment):
    from autograder.engine.grading import grade
    from autograder.engine.submission import open_submission

    with open_submission(assignment.solution, assignment.package) as submission:
        return grade(course, assignment, submission)


def test_reference_gets_full_marks(reference_report, assignment):
    assert reference_report.score == reference_report.max_score == sum(full_scores(assignment).values())
    for part in reference_report.parts:
        assert part.score == runnable_points(part.part), [c.feedback for c in part.checks if c.status == "failed"]
        assert part.notes == []
        if part.part.warm:   # every worker of a part with a warm list was forked by its zygote
            assert part.timings["warm_launches"] == part.timings["worker_launches"] >= 1, part.part.id


def test_stubs_get_zero_and_every_part_is_reported(grade_folder, assignment):
    report = grade_folder(assignment.release)
    assert [part.part.id for part in report.parts] == [part.id for part in assignment.parts]
    assert report.score == 0 and report.max_score == sum(full_scores(assignment).values())
    for part in report.parts:
        for check in part.checks:
            if check.status == "not run":
                assert check.spec.gpu and "CUDA" in check.feedback
                continue
            assert check.status == "failed"
            if part.part.notebook:  # the stub notebook runs; the grader finds no answer in it (a name
                # undefined, or q9's adapter folder empty)
                assert "when your notebook had run to its end" in check.feedback, check.feedback
                continue
            assert "not implemented yet: TODO:" in check.feedback or "NotImplementedError" in check.feedback, \
                check.feedback


def test_results_json_follows_gradescope_and_names_parts(reference_report, assignment):
    results = json.loads(json.dumps(to_gradescope(reference_report)))
    assert results["score"] == results["max_score"] == sum(full_scores(assignment).values())
    assert isinstance(results["execution_time"], float) and results["visibility"] in {"visible", "hidden"}
    names = [test["name"] for test in results["tests"]]
    assert len(names) == len(set(names)) == sum(len(part.checks) for part in assignment.parts)
    per_part: dict[str, float] = {}
    for test in results["tests"]:
        assert GRADESCOPE_TEST_KEYS <= set(test)
        part = test["name"].split("/")[0]
        assert test["tags"][0] == part
        if test["output"].startswith("NOT RUN"):  # a GPU check without CUDA: no status, no points
            assert "gpu" in test["tags"] and test["max_score"] == 0 and "status" not in test
        else:
            assert test["status"] == "passed"
        per_part[part] = per_part.get(part, 0) + test["score"]
    assert per_part == full_scores(assignment)
    provenance = results["extra_data"]["provenance"]
    assert {"grader_version", "checks_sha256", "seed", "python", "torch"} <= set(provenance)
    assert len(provenance["checks_sha256"]) == 64 and provenance["torch"].startswith("2.13")


def test_regrading_is_identical_and_submissions_get_different_inputs(course, assignment, reference_with):
    from autograder.engine.grading import grade, submission_seed
    from autograder.engine.submission import open_submission

    first = reference_with(name="first")
    second = reference_with({"matmul.py": (assignment.solution / "lora_lab/matmul.py").read_text() + "\n# mine\n"},
                            name="second")
    with open_submission(first, assignment.package) as one, open_submission(second, assignment.package) as other:
        seed_one, seed_other = submission_seed(course, assignment, one), submission_seed(course, assignment, other)
        assert seed_one != seed_other
        assert submission_seed(course, assignment, one) == seed_one
        runs = [grade(course, assignment, one, parts=["lowrank"]) for _ in range(2)]
    tests = [[(t["name"], t["score"], t["output"]) for t in to_gradescope(run)["tests"]] for run in runs]
    assert tests[0] == tests[1]
    assert runs[0].seed == seed_one


def test_a_bug_in_the_feedback_is_explained(grade_folder, reference_with, assignment):
    source = (assignment.solution / "lora_lab/matmul.py").read_text()
    buggy = source.replace("return [[value if value > 0 else 0.0 for value in row] for row in matrix]",
                           "return [[abs(value) for value in row] for row in matrix]")
    report = grade_folder(reference_with({"matmul.py": buggy}), parts=["matmul"])
    relu = next(check for check in report.parts[0].checks if check.spec.id == "matmul/relu")
    assert relu.status == "failed" and relu.score == 0
    assert relu.feedback.startswith("relu(matrix) with matrix = [[-1.5, 0.0, 2.25], [3.0, -0.001, -7.0]]: "
                                    "entry [0][0] is 1.5, expected 0.0")
    assert scores(report) == {"matmul": 9}


def course_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_grades_a_nested_zip_and_writes_results(tmp_path, reference_with):
    folder = reference_with()
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((folder / "lora_lab").glob("*.py")):
            bundle.write(path, f"my-work/lora_lab/{path.name}")
    out = tmp_path / "results" / "results.json"
    result = course_cli("grade", str(archive), "--part", "matmul", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "TOTAL" in result.stdout and "10 / 10" in result.stdout
    assert json.loads(out.read_text())["score"] == 10


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "absent", "does not exist"),
    (lambda tmp: (tmp / "notes.txt").write_text("hi") and tmp / "notes.txt", "neither a folder nor a .zip"),
    (lambda tmp: (tmp / "bad.zip").write_bytes(b"not a zip") and tmp / "bad.zip", "not a valid .zip"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "no lora_lab/ folder"),
])
def test_cli_rejects_unusable_submissions_with_a_clear_error(tmp_path, make, message):
    result = course_cli("grade", str(make(tmp_path)))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_zip_with_unsafe_paths_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../escape/lora_lab/matmul.py", "x = 1\n")
    result = course_cli("grade", str(archive))
    assert result.returncode == 2 and "unsafe path" in result.stderr


def test_cli_rejects_an_unknown_part():
    result = course_cli("grade", "--part", "nope")
    assert result.returncode == 2 and "unknown part nope" in result.stderr


def mark_square_gpu(data: dict) -> None:
    """course.yml edit: matmul/square (2 points) needs a GPU."""
    data["assignments"]["lora"]["parts"][0]["checks"][0]["gpu"] = True


def test_gpu_checks_are_not_run_without_cuda_and_left_out_of_max_score(tmp_path):
    import torch

    from autograder.parts import load_course
    from autograder.engine.grading import grade
    from autograder.output.results import render_table
    from autograder.engine.submission import open_submission

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the GPU checks would run")
    course = load_course(write_course(tmp_path, mark_square_gpu))
    assignment = course.assignment()
    with open_submission(assignment.solution, assignment.package) as submission:
        report = grade(course, assignment, submission, parts=["matmul"])
    square = report.parts[0].checks[0]
    assert square.status == "not run" and "CUDA" in square.feedback and "--only gpu" in square.feedback
    assert (report.score, report.max_score) == (8, 8)
    entry = to_gradescope(report)["tests"][0]
    assert entry["max_score"] == 0 and "status" not in entry and entry["output"].startswith("NOT RUN")
    assert "gpu" in entry["tags"]
    hint = next(line for line in render_table(report).splitlines() if line.startswith("GPU checks not run:"))
    assert "1 checks (2 points)" in hint and "`course grade SUBMISSION --only gpu" in hint and "merge-results" in hint


def test_only_gpu_needs_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = course_cli("grade", "--only", "gpu", "--part", "matmul")
    assert result.returncode == 2 and "no CUDA device" in result.stderr and "Traceback" not in result.stderr


def test_parts_graded_side_by_side_score_exactly_as_one_at_a_time(course, assignment, tmp_path):
    """``--jobs``: a submission with a bug in every part that has a mutant gets the same score in every
    check whether its parts are graded one at a time or side by side (the grading process's seeded torch
    work is serialised, so no part changes another's inputs or reference). Feedback may quote numbers
    the student's code drew from torch's unseeded generator (``lora/init``), as in any two processes."""
    from autograder.commands.audit import load_catalogue, reference_with
    from autograder.engine.grading import grade
    from autograder.engine.submission import open_submission

    chosen = {}   # the first mutant of each part
    for entry in load_catalogue(ROOT / "tests", assignment):
        if entry.kind == "mutant":
            chosen.setdefault(entry.part.id, entry)
    reference_with(assignment, tmp_path / "buggy", list(chosen.values()))
    with open_submission(tmp_path / "buggy", assignment.package) as submission:
        runs = [grade(course, assignment, submission, seed=7, jobs=jobs) for jobs in (1, 2)]
    tests = [[(t["name"], t["score"]) for t in to_gradescope(run)["tests"]] for run in runs]
    assert tests[0] == tests[1]
    assert len({part.part.id for part in runs[0].parts if part.score < part.max_score}) >= len(chosen) - 1
