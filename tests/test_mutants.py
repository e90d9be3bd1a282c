"""The mutant catalogue: realistic student bugs, each of which the hidden checks must catch.

Every ``tests/mutants/<part>_<name>.py`` is a data file (loaded by path, not imported as a package)
holding a one-line docstring describing the mistake, ``MODULE`` (a module of the reference
``lora_lab``), ``CAUGHT_BY`` (the check ids that must fail) and ``PATCH`` (``(old, new)`` string
replacements applied to the reference module, each ``old`` occurring exactly once).
"""

from __future__ import annotations

import ast
import runpy
from pathlib import Path

import pytest

from autograder.config import Assignment

from conftest import failed_checks, patched, scores

MUTANTS_DIR = Path(__file__).resolve().parent / "mutants"
MUTANT_FILES = sorted(MUTANTS_DIR.glob("*.py"))


def load_mutant(path: Path) -> dict:
    return runpy.run_path(str(path))


def reference_source(assignment: Assignment, module: str) -> str:
    return (assignment.solution / assignment.package / f"{module}.py").read_text()


def test_catalogue_is_not_empty():
    assert len(MUTANT_FILES) >= 20, f"expected at least 20 mutants in {MUTANTS_DIR}, found {len(MUTANT_FILES)}"


@pytest.mark.parametrize("path", MUTANT_FILES, ids=[path.stem for path in MUTANT_FILES])
def test_mutant_is_well_formed(path: Path, assignment: Assignment):
    tree = ast.parse(path.read_text())
    docstring = ast.get_docstring(tree)
    assert docstring, f"{path.name} has no module docstring"
    assert "\n" not in docstring.strip(), f"{path.name}: the docstring must be one line"
    mutant = load_mutant(path)
    module = mutant.get("MODULE")
    assert isinstance(module, str) and module, f"{path.name}: MODULE must be a non-empty string"
    assert (assignment.solution / assignment.package / f"{module}.py").is_file(), \
        f"{path.name}: MODULE = {module!r} is not a module of the reference {assignment.package}"
    assert path.stem.startswith(f"{module}_"), f"{path.name}: the file name should start with {module}_"
    caught_by = mutant.get("CAUGHT_BY")
    assert isinstance(caught_by, list) and caught_by, f"{path.name}: CAUGHT_BY must be a non-empty list"
    part_checks = {spec.id for spec in assignment.part(module).checks}
    unknown = set(caught_by) - part_checks
    assert not unknown, f"{path.name}: CAUGHT_BY names {sorted(unknown)}, not checks of part {module}"
    patch = mutant.get("PATCH")
    assert isinstance(patch, list) and patch, f"{path.name}: PATCH must be a non-empty list"
    for pair in patch:
        assert isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair), \
            f"{path.name}: every PATCH entry must be an (old, new) pair of strings, got {pair!r}"
        assert pair[0] != pair[1], f"{path.name}: a PATCH entry changes nothing: {pair[0]!r}"
    source = reference_source(assignment, module)
    mutated = patched(source, patch)  # asserts each old text occurs exactly once
    assert mutated != source
    compile(mutated, f"{module}.py", "exec")


def test_every_check_is_covered_by_a_mutant(assignment: Assignment):
    covered = {check for path in MUTANT_FILES for check in load_mutant(path)["CAUGHT_BY"]}
    all_checks = [spec.id for part in assignment.parts for spec in part.checks]
    missing = [check for check in all_checks if check not in covered]
    assert not missing, f"checks that no mutant's CAUGHT_BY names: {missing}"


@pytest.mark.parametrize("path", MUTANT_FILES, ids=[path.stem for path in MUTANT_FILES])
def test_mutant_is_caught(path: Path, assignment: Assignment, reference_with, grade_folder):
    mutant = load_mutant(path)
    module, caught_by = mutant["MODULE"], mutant["CAUGHT_BY"]
    part = assignment.part(module)
    submission = reference_with({f"{module}.py": patched(reference_source(assignment, module), mutant["PATCH"])})
    report = grade_folder(submission, parts=[part.id])

    failed = failed_checks(report)
    feedback = {check.spec.id: check.feedback for part_report in report.parts for check in part_report.checks}
    summary = "\n".join(f"  {check_id}: {'FAILED' if check_id in failed else 'passed'} {feedback[check_id]!r}"
                        for check_id in sorted(feedback))
    missed = [check_id for check_id in caught_by if check_id not in failed]
    assert not missed, (f"mutant {path.stem} ({mutant['__doc__']}) was not caught by {missed}; "
                        f"the grade said:\n{summary}")

    part_report = next(p for p in report.parts if p.part.id == part.id)
    assert scores(report)[part.id] < part_report.max_score, \
        f"mutant {path.stem} still scored {scores(report)[part.id]} of {part_report.max_score}:\n{summary}"

    for check_id in sorted(failed):
        text = feedback[check_id]
        assert isinstance(text, str) and len(text.strip()) > 20 and text.strip().lower() != "assertion failed", \
            f"mutant {path.stem}: check {check_id} failed with unhelpful feedback {text!r}"
