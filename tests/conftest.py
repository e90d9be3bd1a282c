"""Shared fixtures: the real course, and submissions built from the reference with small changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from autograder.core.config import Assignment, Course, Part

from autograder.parts import load_course
from autograder.engine.grading import GradeReport, grade
from autograder.engine.submission import open_submission

ROOT = Path(__file__).resolve().parent.parent
FIXED_SEED = 20261127


def course_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``course ARGS`` from this checkout (``python -m autograder``) in the repository root."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def write_course(tmp_path: Path, mutate) -> Path:
    """A copy of the real course.yml next to a link to the real solutions, changed by ``mutate``."""
    data = yaml.safe_load((ROOT / "course.yml").read_text())
    mutate(data)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "solutions").symlink_to(ROOT / "solutions")
    path = tmp_path / "course.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def course() -> Course:
    return load_course(ROOT / "course.yml")


@pytest.fixture(scope="session")
def assignment(course: Course) -> Assignment:
    return course.assignment("lora")


def make_submission(base: Path, target: Path, files: dict[str, str | None] | None = None) -> Path:
    """Copy ``base``'s ``lora_lab/`` into ``target`` and apply ``files``: {path in lora_lab: new source,
    or None to delete it}. Returns ``target``."""
    shutil.copytree(base / "lora_lab", target / "lora_lab", ignore=shutil.ignore_patterns("__pycache__"))
    for relative, source in (files or {}).items():
        path = target / "lora_lab" / relative
        if source is None:
            path.unlink()
        else:
            path.write_text(source)
    return target


@pytest.fixture
def reference_with(assignment: Assignment, tmp_path: Path):
    """Build a submission from the reference solution with some files replaced or deleted."""

    def build(files: dict[str, str | None] | None = None, name: str = "submission") -> Path:
        return make_submission(assignment.solution, tmp_path / name, files)

    return build


@pytest.fixture
def grade_folder(course: Course, assignment: Assignment):
    """Grade a submission folder or zip (fixed seed unless given) and return the report."""

    def run(path: Path, parts: list[str] | None = None, seed: int | None = FIXED_SEED) -> GradeReport:
        with open_submission(path, assignment.package) as submission:
            return grade(course, assignment, submission, seed=seed, parts=parts)

    return run


GPU = torch.cuda.is_available()


def runnable_points(part: Part) -> float:
    """The points a part can earn on this machine: GPU checks count only where CUDA is present."""
    return sum(check.points for check in part.checks if GPU or not check.gpu)


def full_scores(assignment: Assignment) -> dict[str, float]:
    """Full marks of every part on this machine, by part id."""
    return {part.id: runnable_points(part) for part in assignment.parts}


def scores(report: GradeReport) -> dict[str, float]:
    """Score of every part, by part id."""
    return {part.part.id: part.score for part in report.parts}


def failed_checks(report: GradeReport) -> set[str]:
    return {check.spec.id for part in report.parts for check in part.checks if check.status != "passed"}


@pytest.fixture(scope="session")
def library() -> Path:
    """The Gutenberg library folder (CI sets GUTENBERG_LIBRARY; the books are never committed)."""
    folder = Path(os.environ.get("GUTENBERG_LIBRARY", ROOT.parent / "shared" / "data" / "gutenberg"))
    if not (folder / "1661-the-adventures-of-sherlock-holmes.txt").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must point GUTENBERG_LIBRARY at the books; {folder} has none")
        pytest.skip(f"no Gutenberg library at {folder}; set GUTENBERG_LIBRARY")
    return folder
