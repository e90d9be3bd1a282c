"""A broken part loses only its own points, within its time budget, and the grade always completes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import ROOT, full_scores, scores
from autograder.parts import load_course

# The parts whose modules these cases break; the later parts live in modules of their own and would
# only make every case slower.
PARTS = ["matmul", "linear", "lowrank", "lora"]
FULL = {part: points for part, points in full_scores(load_course(ROOT / "course.yml").assignment("lora")).items()
        if part in PARTS}

REFERENCE = Path(__file__).resolve().parent.parent / "solutions" / "lora" / "lora_lab"

BROKEN = {
    "syntax error": ("matmul", "def matrix_multiply(A, B)\n    return A\n"),
    "import-time exception": ("lowrank", "import torch\nraise RuntimeError('boom at import')\n"),
    "infinite loop at import": ("matmul", "while True:\n    pass\n"),
    "infinite loop in a torch part": ("lowrank", "import torch\n"
                                      "def low_rank_factors(W, r):\n    while True:\n        W = W @ W.T\n"),
    "10 GB tensor": ("linear", "import torch\nclass ManualLinear:\n"
                               "    def __init__(self, *args, **kwargs):\n"
                               "        self.block = torch.ones(10 * 1024**3 // 4)\n"),
    "10 GB list at import": ("matmul", "hog = [0] * (10 * 1024**3 // 8)\n"),
    "printing forever": ("matmul", "def matrix_multiply(A, B):\n    while True:\n        print('spam ' * 1000)\n"),
    "sys.exit at import": ("linear", "import sys\nsys.exit(0)\n"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_module_loses_only_its_own_part(case, reference_with, grade_folder, assignment):
    part_id, source = BROKEN[case]
    started = time.monotonic()
    report = grade_folder(reference_with({f"{part_id}.py": source}), parts=PARTS)
    elapsed = time.monotonic() - started
    expected = dict(FULL)
    expected[part_id] = 0
    assert scores(report) == expected
    broken = next(part for part in report.parts if part.part.id == part_id)
    assert all(len(check.feedback) > 20 for check in broken.checks if check.status == "failed")
    budget = assignment.part(part_id).time_budget
    assert broken.seconds < budget + 10, f"{case} took {broken.seconds:.1f} s, budget {budget} s"
    assert elapsed < budget + 40


def test_messages_say_what_went_wrong(reference_with, grade_folder):
    report = grade_folder(reference_with({
        "matmul.py": "def matrix_multiply(A, B)\n    return A\n",
        "linear.py": "import sys\nsys.exit(3)\n",
        "lowrank.py": None,
    }), parts=PARTS)
    notes = {part.part.id: " ".join(part.notes) for part in report.parts}
    assert "SyntaxError" in notes["matmul"] and "lora_lab/matmul.py, line 1" in notes["matmul"]
    assert "your code called sys.exit(3)" in notes["linear"]
    assert "lora_lab/lowrank.py is missing from your submission" in notes["lowrank"]
    assert scores(report) == {**FULL, "matmul": 0, "linear": 0, "lowrank": 0}


def test_infinite_loop_reports_the_time_budget(reference_with, grade_folder):
    report = grade_folder(reference_with({"matmul.py": "while True:\n    pass\n"}), parts=["matmul"])
    assert "did not finish within this part's time budget of 10 s" in report.parts[0].notes[0]


def test_memory_bomb_reports_the_memory_limit(reference_with, grade_folder):
    source = "def matrix_multiply(A, B):\n    return [0] * (10 * 1024**3 // 8)\n"
    report = grade_folder(reference_with({"matmul.py": source}), parts=["matmul"])
    square = report.parts[0].checks[0]
    assert square.status == "failed" and "MemoryError" in square.feedback


def test_huge_print_is_capped(reference_with, grade_folder):
    source = (REFERENCE / "matmul.py").read_text() + "\nfor _ in range(20000):\n    print('x' * 1000)\n"
    report = grade_folder(reference_with({"matmul.py": source}), parts=["matmul"])
    note = " ".join(report.parts[0].notes)
    assert "your code printed 20020000 bytes" in note
    assert len(note) < 3000
    assert report.parts[0].score == 10  # printing at import is allowed; the answers are right


def test_exit_inside_a_function_costs_only_the_checks_that_call_it(reference_with, grade_folder):
    source = (REFERENCE / "matmul.py").read_text() + "\n\ndef matrix_multiply(A, B):\n    import os\n    os._exit(0)\n"
    report = grade_folder(reference_with({"matmul.py": source}), parts=["matmul"])
    by_id = {check.spec.id: check for check in report.parts[0].checks}
    assert report.parts[0].score == 3  # add_bias and relu still pass; pure_python calls it too
    assert "exited (exit code 0) before it finished" in by_id["matmul/square"].feedback
    assert by_id["matmul/add_bias"].status == by_id["matmul/relu"].status == "passed"


def test_a_broken_module_of_a_two_module_part_costs_only_its_own_checks(reference_with, grade_folder):
    """Part finetune grades persona.py and finetune.py: a syntax error in one leaves the other's checks whole."""
    report = grade_folder(reference_with({"persona.py": "def strip_gutenberg(text)\n    return text\n"}),
                          parts=["finetune"])
    checks = {check.spec.id.split("/")[1]: check for check in report.parts[0].checks if check.status != "not run"}
    persona = {"strip_gutenberg", "extract_novel", "extract_play", "examples", "labels"}
    assert {name for name, check in checks.items() if check.status == "failed"} == persona
    assert all("SyntaxError" in checks[name].feedback and "persona.py, line 1" in checks[name].feedback
               for name in persona)
