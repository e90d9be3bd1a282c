"""Assessment validity: do the hidden checks catch real bugs and accept every correct answer?

The catalogue lives next to the tests:
  * ``tests/mutants/<module>_<name>.py``: a realistic student bug. A one-line docstring says what the
    student got wrong; ``MODULE`` names the module of the reference it changes, ``CAUGHT_BY`` the checks
    that must fail, ``PATCH`` a list of ``(old, new)`` replacements (each ``old`` exactly once).
  * ``tests/alternates/<name>.py``: a whole module, correct but written differently from the reference;
    ``ALTERNATE_FOR`` names the module it replaces. Its part must keep every point.
Each entry is graded on a copy of the reference with that one module changed, on the entry's part only.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import Assignment, Course, Part
from .grading import grade
from .judge import CheckResult
from .submission import open_submission

AUDIT_SEED = 20261127


class AuditError(Exception):
    """A catalogue entry is malformed (missing fields, a patch that does not apply, ...)."""


@dataclass(frozen=True)
class Entry:
    kind: str                      # "mutant", "alternate" or "reference"
    name: str
    part: Part
    description: str
    source: str | None             # the module's new source; None for the reference itself
    caught_by: tuple[str, ...] = ()
    module: str = ""               # the module of the package it replaces, e.g. "persona"


@dataclass(frozen=True)
class AuditRow:
    entry: Entry
    checks: list[CheckResult]

    @property
    def points_lost(self) -> float:
        return round(sum(check.max_score - check.score for check in self.checks), 4)

    @property
    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if check.status == "failed"]

    @property
    def ok(self) -> bool:
        """Mutants must lose points on every check in CAUGHT_BY; alternates and the reference none."""
        if self.entry.kind != "mutant":
            return self.points_lost == 0
        failed = {check.spec.id for check in self.failed}
        return self.points_lost > 0 and set(self.entry.caught_by) <= failed

    @property
    def outcome(self) -> str:
        if self.entry.kind == "mutant":
            return "killed" if self.ok else ("survived" if self.points_lost == 0 else "missed a check")
        return "accepted" if self.ok else "REJECTED"


def apply_patch(source: str, patch: list[tuple[str, str]], name: str) -> str:
    """``source`` with every ``(old, new)`` applied; ``old`` must occur exactly once."""
    for old, new in patch:
        count = source.count(old)
        if count != 1:
            raise AuditError(f"{name}: the patch text {old[:60]!r} occurs {count} times in the reference, not once")
        source = source.replace(old, new)
    return source


def _constants(path: Path) -> tuple[str, dict]:
    """The module docstring and the top-level literal constants of a catalogue file, without running it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError as error:
        raise AuditError(f"{path.name}: not valid Python ({error.msg}, line {error.lineno})") from None
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return (ast.get_docstring(tree) or "").strip(), values


def _part_for(assignment: Assignment, module: object, name: str) -> Part:
    for part in assignment.parts:
        if module in part.module_names:
            return part
    raise AuditError(f"{name}: {module!r} is not the module of any part in course.yml")


def load_mutant(path: Path, assignment: Assignment) -> Entry:
    description, values = _constants(path)
    if not description or "\n" in description:
        raise AuditError(f"{path.name}: needs a one-line docstring saying what the student got wrong")
    part = _part_for(assignment, values.get("MODULE"), path.name)
    caught_by = values.get("CAUGHT_BY")
    known = {spec.id for spec in part.checks}
    if not isinstance(caught_by, list) or not caught_by or not set(caught_by) <= known:
        raise AuditError(f"{path.name}: CAUGHT_BY must be a non-empty list of checks of part {part.id}, got {caught_by!r}")
    patch = values.get("PATCH")
    if not isinstance(patch, list) or not patch or not all(
            isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(text, str) for text in pair)
            and pair[0] != pair[1] for pair in patch):
        raise AuditError(f"{path.name}: PATCH must be a non-empty list of (old, new) string pairs that change something")
    reference = (assignment.solution / assignment.package / f"{values['MODULE']}.py").read_text(encoding="utf-8")
    source = apply_patch(reference, patch, path.name)
    try:
        compile(source, path.name, "exec")
    except SyntaxError as error:
        raise AuditError(f"{path.name}: the patched module does not compile ({error.msg})") from None
    return Entry("mutant", path.stem, part, description, source, tuple(caught_by), values["MODULE"])


def load_alternate(path: Path, assignment: Assignment) -> Entry:
    description, values = _constants(path)
    part = _part_for(assignment, values.get("ALTERNATE_FOR"), path.name)
    return Entry("alternate", path.stem, part, description.splitlines()[0] if description else "",
                 path.read_text(encoding="utf-8"), module=values["ALTERNATE_FOR"])


def load_catalogue(root: Path, assignment: Assignment, parts: list[str] | None = None) -> list[Entry]:
    """The reference of each part, then every mutant and alternate under ``root``."""
    entries = [Entry("reference", "reference", part, "the reference solution", None) for part in assignment.parts]
    entries += [load_mutant(path, assignment) for path in sorted((root / "mutants").glob("*.py"))]
    entries += [load_alternate(path, assignment) for path in sorted((root / "alternates").glob("*.py"))]
    return [entry for entry in entries if not parts or entry.part.id in parts]


def audit_entry(course: Course, assignment: Assignment, entry: Entry, seed: int = AUDIT_SEED) -> AuditRow:
    """Grade ``entry``'s part on a copy of the reference in which its module is replaced."""
    with tempfile.TemporaryDirectory(prefix="lora-audit-") as tmp:
        package = Path(tmp) / assignment.package
        shutil.copytree(assignment.solution / assignment.package, package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if entry.source is not None:
            (package / f"{entry.module}.py").write_text(entry.source, encoding="utf-8")
        with open_submission(Path(tmp), assignment.package) as submission:
            report = grade(course, assignment, submission, seed=seed, parts=[entry.part.id])
    return AuditRow(entry, report.parts[0].checks)


def render_audit(rows: list[AuditRow], width: int = 110) -> str:
    """The audit table: one line per entry, then what caught it and the first feedback a student sees."""
    lines = [f"{'entry':<38} {'part':<8} {'expected':<9} {'outcome':<15} {'lost':>6}  caught by", "=" * width]
    for row in rows:
        expected = "killed" if row.entry.kind == "mutant" else "accepted"
        caught = ", ".join(check.spec.id.split("/", 1)[1] for check in row.failed) or "-"
        lines.append(f"{row.entry.name:<38} {row.entry.part.id:<8} {expected:<9} {row.outcome:<15} "
                     f"{row.points_lost:>6g}  {caught}")
        if row.entry.kind == "mutant":
            lines.append(f"    bug: {row.entry.description}")
        if row.failed:
            feedback = row.failed[0].feedback.replace("\n", " ")
            lines.append(f"    feedback: {feedback[: width * 2]}")
    lines.append("-" * width)
    for part in dict.fromkeys(row.entry.part.id for row in rows):
        mutants = [row for row in rows if row.entry.part.id == part and row.entry.kind == "mutant"]
        alternates = [row for row in rows if row.entry.part.id == part and row.entry.kind == "alternate"]
        killed = sum(row.ok for row in mutants)
        lines.append(f"{part:<8} mutation score {killed}/{len(mutants)}   alternates accepted "
                     f"{sum(row.ok for row in alternates)}/{len(alternates)}")
    bad = [row for row in rows if not row.ok]
    lines.append("audit passed" if not bad else f"AUDIT FAILED: {', '.join(row.entry.name for row in bad)}")
    return "\n".join(lines)
