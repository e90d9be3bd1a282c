"""Correct implementations written differently from the reference must get full marks
(tests/parts/<part>/alternates/, see autograder/commands/audit.py for the format)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.commands.audit import audit_entry, catalogue_files, load_alternate
from test_mutants import CATALOGUE, catalogue_params

ALTERNATES = catalogue_files(CATALOGUE, "alternates")


@pytest.mark.parametrize("path", catalogue_params(ALTERNATES))
def test_alternate_gets_full_marks(path, course, assignment):
    row = audit_entry(course, assignment, load_alternate(path, assignment))
    failures = {check.spec.id: check.feedback for check in row.failed}
    assert row.ok and not failures, f"the correct alternate {path.stem} lost {row.points_lost} points: {failures}"
