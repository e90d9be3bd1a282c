"""Claims: facts only the worker can report (whether arguments were modified, which modules were imported, ...).

Each entry of tests/exploits/claims/ has a realistic bug that only a claim shows and replaces the grader's
probe so that the claim hides it (see autograder/SECURITY.md, "Limits"). Such a lie cannot be caught from
outside the worker, so it must gain at most ``CLAIM_POINTS`` per check over the same bug told honestly.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from autograder.commands.audit import audit_entry, load_exploit
from autograder.core.model import CLAIM_POINTS
from test_sandbox import namespaces_available

CLAIMS = sorted((Path(__file__).resolve().parent / "exploits" / "claims").glob("*.py"))

pytestmark = pytest.mark.skipif(not namespaces_available(), reason="graded like the exploit corpus")


def scores(row) -> dict[str, float]:
    return {check.spec.id: check.score for check in row.checks if check.spec.id in row.entry.caught_by}


def points(row) -> float:
    return sum(check.spec.points for check in row.checks if check.spec.id in row.entry.caught_by)


@pytest.mark.parametrize("path", CLAIMS, ids=[path.stem for path in CLAIMS])
def test_a_lie_about_a_claim_gains_at_most_one_point_per_check(path, course, assignment):
    lie = load_exploit(path, assignment)
    # the same bug, told honestly: the module without the code that replaces the probe
    honest = dataclasses.replace(lie, source=re.split(r"\n\nimport importlib as _importlib\n", lie.source)[0] + "\n")
    assert "_replace_probe" not in honest.source
    lied, told = audit_entry(course, assignment, lie), audit_entry(course, assignment, honest)
    for check, score in scores(lied).items():
        gained = score - scores(told)[check]
        assert gained <= CLAIM_POINTS, f"{path.stem}: {check} gained {gained} by lying"
    if '\n_replace_probe("' in lie.source:   # a bug the lie hides (not one no measurement sees): caught when told
        assert sum(scores(told).values()) < points(told)
