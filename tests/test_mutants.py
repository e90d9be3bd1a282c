"""The mutant catalogue: every realistic student bug in tests/parts/<part>/mutants/ must be caught by the checks
its file names, with feedback a student can act on (see autograder/commands/audit.py for the format)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.commands.audit import audit_entry, catalogue_files, load_mutant
from autograder.parts import load_course
from conftest import ROOT

CATALOGUE = Path(__file__).resolve().parent
MUTANT_FILES = catalogue_files(CATALOGUE, "mutants")
# The entries of a part whose checks may take over a minute (its time_budget in course.yml) train tiny
# models, start chat engines or run the whole lecture notebook (20-60 s each): they run with `slow`.
SLOW_PARTS = {part.id for part in load_course(ROOT / "course.yml").assignment("lora").parts if part.time_budget > 60}


def catalogue_params(paths: list[Path]) -> list:
    """One parameter per catalogue file, named after it, marked slow in a slow part's folder."""
    return [pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if path.parent.parent.name in SLOW_PARTS else [])
            for path in paths]


def test_every_part_has_at_least_eight_mutants(assignment):
    per_part = {part.id: 0 for part in assignment.parts}
    for path in MUTANT_FILES:
        per_part[load_mutant(path, assignment).part.id] += 1
    assert all(count >= 8 for count in per_part.values()), per_part


def test_every_check_is_covered_by_a_mutant(assignment):
    covered = {check for path in MUTANT_FILES for check in load_mutant(path, assignment).caught_by}
    # GPU checks cannot run where the catalogue is graded, so no mutant can name them
    missing = [spec.id for part in assignment.parts for spec in part.checks if spec.id not in covered and not spec.gpu]
    assert not missing, f"checks that no mutant's CAUGHT_BY names: {missing}"


@pytest.mark.parametrize("path", catalogue_params(MUTANT_FILES))
def test_mutant_is_caught(path, course, assignment):
    mutant = load_mutant(path, assignment)  # validates the file: docstring, MODULE, CAUGHT_BY, PATCH applies
    # named after the module it changes, or after the part for a notebook: notebook_<name>.py
    assert path.stem.startswith(f"{mutant.part.id if mutant.part.notebook else mutant.module}_")
    row = audit_entry(course, assignment, mutant)
    summary = "\n".join(f"  {check.spec.id}: {check.status} {check.feedback!r}" for check in row.checks)
    assert row.ok, f"mutant {mutant.name} ({mutant.description}) was {row.outcome}; the grade said:\n{summary}"
    for check in row.failed:
        text = check.feedback.strip()
        assert len(text) > 20 and text.lower() != "assertion failed", \
            f"mutant {mutant.name}: check {check.spec.id} failed with unhelpful feedback {text!r}"
