"""Correct implementations written differently from the reference must get full marks.

Each ``tests/alternates/<name>.py`` is a whole module that replaces ``lora_lab/<ALTERNATE_FOR>.py``
in a copy of the reference; its part must score every point.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import scores

ALTERNATES = sorted((Path(__file__).resolve().parent / "alternates").glob("*.py"))


def target_module(path: Path) -> str:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["ALTERNATE_FOR"]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} does not say which module it replaces (ALTERNATE_FOR = '...')")


@pytest.mark.parametrize("path", ALTERNATES, ids=[path.stem for path in ALTERNATES])
def test_alternate_gets_full_marks(path, assignment, reference_with, grade_folder):
    module = target_module(path)
    report = grade_folder(reference_with({f"{module}.py": path.read_text()}), parts=[module])
    part = report.parts[0]
    failures = {check.spec.id: check.feedback for check in part.checks if check.status != "passed"}
    assert not failures, f"the correct alternate {path.stem} lost points: {failures}"
    assert scores(report)[module] == assignment.part(module).points
