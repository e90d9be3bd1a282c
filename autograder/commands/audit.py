r"""Assessment validity: do the hidden checks catch real bugs and accept every correct answer?

The catalogue lives next to the tests, in a folder per part (``tests/parts/<part>/``, beside the part's
``autograder/parts/<part>/``):
  * ``tests/parts/<part>/mutants/<module>_<name>.py``: a realistic student bug. A one-line docstring says what the
    student got wrong; ``MODULE`` names the module of the reference it changes, ``CAUGHT_BY`` the checks
    that must fail, ``PATCH`` a list of ``(old, new)`` replacements (each ``old`` exactly once).
  * ``tests/parts/<part>/alternates/<name>.py``: a whole module, correct but written differently from the reference;
    ``ALTERNATE_FOR`` names the module it replaces. Its part must keep every point.
  * ``tests/exploits/<module>_<name>.py``: a hostile submission (see ``autograder/SECURITY.md``). Like a
    mutant it changes one module of the reference (``PATCH`` and/or ``APPEND``, code added at the end
    that may redefine a function); ``ATTACK`` names the attack and ``BLOCKED_BY`` the defence that stops
    it. ``WITH_VICTIM`` grades another submission beside it (``VICTIM_PARTS``: parts it is graded on
    besides the entry's, so that the two grades overlap). ``CAUGHT_BY`` lists the checks its code
    answers wrongly unless the attack works: the attack must gain nothing there. Every other check of the part must pass, except those in ``MAY_FAIL`` (checks
    the attack's own damage may cost, e.g. a time budget it burns); ``REPORTS``, when given, is text the
    report must show, ``MUST_NOT_SHOW`` texts it must never show (a hidden test, a path it tries to
    learn). A notebook exploit may start from the stub notebook of the release instead of the master
    (``BASE = "release"``): the stubs plus its attack must score what the stubs score. ``FILES`` lists
    special files the audit makes in the submission folder after the copy (what a zip or a git upload
    could carry), each a tuple: ``("symlink", PATH, TARGET)``, ``("hardlink", PATH, EXISTING)``,
    ``("sparse", PATH, BYTES)``, ``("fifo", PATH)``, ``("socket", PATH)``, ``("file", PATH, TEXT)``; a
    ``PATH`` may hold ``\udcNN`` escapes for bytes that are not UTF-8. An entry with ``FILES`` needs
    no ``PATCH`` or ``APPEND``; one whose submission cannot be graded at all (too large) scores zero on
    every check with the reason as feedback. ``@NAME@`` tokens in the code, ``FILES`` and
    ``MUST_NOT_SHOW`` are filled in by the caller (the course root, ...).

A notebook part (``notebook:`` in course.yml) is changed the same way: ``MODULE`` (or ``ALTERNATE_FOR``)
names the notebook file, e.g. ``MODULE = "lecture.ipynb"``, and the entry's file is named after the part
(``tests/parts/notebook/mutants/notebook_<name>.py``). The reference is the master notebook of the solutions, and each
``(old, new)`` of ``PATCH`` applies to the source of the one code cell whose text holds ``old`` (``old``
must occur exactly once among all code cells; ``new`` may span lines); every code cell must still
compile. A notebook alternate is such a ``PATCH`` too (a whole copy of the master would drift from it):
it rewrites the answer cells in another style. A module alternate may also be a ``PATCH`` instead of a
whole module, of the reference or, with ``BASE = "release"``, of the stub: its ``PATCH`` fills the stub's
``raise NotImplementedError(...)`` lines, so it holds only its own code, never a copy of the docstrings.

Each entry is graded on a copy of the reference (the package and the part notebooks) with that one
module or notebook changed, on the entry's part only.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..core.config import Assignment, Course, Part
from ..core.errors import CourseError
from ..engine.grading import GradeReport, grade
from ..core.model import CHECKS
from ..core.cleanup import remove_tree
from ..core.model import CheckResult
from ..sandbox import leftover_workers
from ..sandbox.cgroup import leftover_cgroups
from ..engine.submission import SubmissionError, open_submission, package_digest

AUDIT_SEED = 20261127


class AuditError(CourseError):
    """A catalogue entry is malformed (missing fields, a patch that does not apply, ...)."""


@dataclass(frozen=True)
class Entry:
    kind: str                      # "mutant", "alternate" or "reference"
    name: str
    part: Part
    description: str
    source: str | None             # the module's new source; None for the reference itself
    caught_by: tuple[str, ...] = ()
    module: str = ""               # the module of the package it replaces, e.g. "persona", or the notebook
                                   # it replaces, e.g. "lecture.ipynb"
    may_fail: tuple[str, ...] = ()  # exploits: checks the attack's own damage may cost
    attack: str = ""               # exploits: the attack, in a few words
    blocked_by: str = ""           # exploits: the defence that stops it
    reports: str = ""              # exploits: text the grade report must show
    must_not_exist: tuple[str, ...] = ()  # exploits: paths it tries to create, which must not exist after
    with_victim: bool = False      # exploits: graded while another submission is graded beside it
    victim_parts: tuple[str, ...] = ()  # exploits: what the other submission is graded on besides the entry's part
    files: tuple[tuple, ...] = ()  # exploits: special files made in the submission folder (see above)
    must_not_show: tuple[str, ...] = ()  # exploits: text (a hidden test's, a path) the report must never show


@dataclass(frozen=True)
class AuditRow:
    entry: Entry
    checks: list[CheckResult]
    notes: tuple[str, ...] = ()    # the part's notes in the grade report
    problems: tuple[str, ...] = ()  # exploits: harm found around the grade (see audit_exploit)

    @property
    def gained(self) -> float:
        """Exploits: the points scored on the checks the attack answers wrongly (must be 0)."""
        return round(sum(check.score for check in self.checks if check.spec.id in self.entry.caught_by), 4)

    @property
    def collateral(self) -> list[CheckResult]:
        """Exploits: checks that failed although the attack should not touch them."""
        allowed = set(self.entry.caught_by) | set(self.entry.may_fail)
        return [check for check in self.failed if check.spec.id not in allowed]

    @property
    def reported(self) -> bool:
        """Exploits: whether the report shows ``REPORTS`` (in a note or a check's feedback)."""
        return self.entry.reports in self.text

    @property
    def unreported(self) -> str:
        """Exploits: what the report said, on one line, when it does not show ``REPORTS``; else ``""``."""
        return "" if self.reported else " | ".join(self.text.splitlines())[:300]

    @property
    def text(self) -> str:
        """Everything the report shows a student about the entry's part: notes and feedback."""
        return "\n".join([*self.notes, *(check.feedback for check in self.checks)])

    @property
    def leaked(self) -> list[str]:
        """Exploits: the texts of ``MUST_NOT_SHOW`` that the report shows."""
        return [text for text in self.entry.must_not_show if text in self.text]

    @property
    def points_lost(self) -> float:
        return round(sum(check.max_score - check.score for check in self.checks), 4)

    @property
    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if check.status == "failed"]

    @property
    def ok(self) -> bool:
        """Mutants must lose points on every check in CAUGHT_BY; alternates and the reference none;
        exploits must gain nothing, cost no other check, and be reported where the grader knows."""
        if self.entry.kind == "exploit":
            return (self.gained == 0 and not self.collateral and self.reported and not self.problems
                    and not self.leaked)
        if self.entry.kind != "mutant":
            return self.points_lost == 0
        failed = {check.spec.id for check in self.failed}
        return self.points_lost > 0 and set(self.entry.caught_by) <= failed

    @property
    def outcome(self) -> str:
        if self.entry.kind == "exploit":
            return ("blocked" if self.ok else "GAINED" if self.gained else "LEAKED" if self.leaked
                    else "COLLATERAL" if self.collateral else "HARMFUL" if self.problems else "NOT REPORTED")
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


def is_notebook(module: str) -> bool:
    """Whether a catalogue entry's ``MODULE`` names a notebook (``lecture.ipynb``) rather than a module."""
    return module.endswith(".ipynb")


def _reference_path(assignment: Assignment, module: str) -> Path:
    """The reference file of ``module``: the master notebook, or the package module."""
    if is_notebook(module):
        return assignment.solution / module
    return assignment.solution / assignment.package / f"{module}.py"


def _submitted_path(assignment: Assignment, root: Path, module: str) -> Path:
    """Where ``module`` lies in the submission folder ``root``: a notebook sits next to the package."""
    return root / module if is_notebook(module) else root / assignment.package / f"{module}.py"


def _code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]


def patch_notebook(text: str, patch: list[tuple[str, str]], name: str) -> str:
    """The notebook JSON ``text`` with every ``(old, new)`` applied to the source of the one code cell
    that holds ``old``; ``old`` must occur exactly once among all code cells."""
    notebook = json.loads(text)
    cells = _code_cells(notebook)
    for old, new in patch:
        sources = ["".join(cell["source"]) for cell in cells]
        holding = [index for index, source in enumerate(sources) if old in source]
        count = sum(source.count(old) for source in sources)
        if count != 1:
            raise AuditError(f"{name}: the patch text {old[:60]!r} occurs {count} times in the code cells "
                             "of the reference notebook, not once")
        cells[holding[0]]["source"] = sources[holding[0]].replace(old, new).splitlines(keepends=True)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def _compile(source: str, module: str, name: str) -> None:
    """Raise :class:`AuditError` unless the module (or every code cell of the notebook) compiles."""
    cells = ["".join(cell["source"]) for cell in _code_cells(json.loads(source))] if is_notebook(module) else [source]
    for cell in cells:
        try:
            compile(cell, name, "exec")
        except SyntaxError as error:
            what = "a code cell of the patched notebook" if is_notebook(module) else "the patched module"
            raise AuditError(f"{name}: {what} does not compile ({error.msg})") from None


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
        if module in part.module_names or (part.notebook and module == part.notebook):
            return part
    raise AuditError(f"{name}: {module!r} is not the module of any part in course.yml")


def _check_list(values: dict, key: str, part: Part, name: str, empty: bool = False) -> tuple[str, ...]:
    """``values[key]``: a list of checks of ``part`` (non-empty unless ``empty``)."""
    checks = values.get(key, [] if empty else None)
    known = {spec.id for spec in part.checks}
    if not isinstance(checks, list) or not (checks or empty) or not set(checks) <= known:
        kind = "a list" if empty else "a non-empty list"
        raise AuditError(f"{name}: {key} must be {kind} of checks of part {part.id}, got {checks!r}")
    return tuple(checks)


def _patched_module(values: dict, assignment: Assignment, name: str, append: str = "",
                    required: bool = True, fill: dict[str, str] | None = None, key: str = "MODULE") -> str:
    """The reference module (or notebook) ``values[key]`` with ``PATCH`` applied, ``append`` added and the
    ``@NAME@`` tokens of ``fill`` replaced; it must compile."""
    patch = values.get("PATCH", None if required else [])
    if not isinstance(patch, list) or (required and not patch) or not all(
            isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(text, str) for text in pair)
            and pair[0] != pair[1] for pair in patch):
        raise AuditError(f"{name}: PATCH must be a non-empty list of (old, new) string pairs that change something")
    module = values[key]
    base = values.get("BASE", "reference")
    if base not in ("reference", "release") or (base == "release" and key == "MODULE" and not is_notebook(module)):
        raise AuditError(f"{name}: BASE must be \"reference\" or, for a notebook or an alternate, \"release\" "
                         f"(the stubs)")
    folder = assignment.release if base == "release" else assignment.solution
    reference = _reference_path(dataclasses.replace(assignment, solution=folder), module).read_text(encoding="utf-8")
    if is_notebook(module):
        if append:
            raise AuditError(f"{name}: APPEND does not apply to a notebook; use PATCH")
        source = _fill(patch_notebook(reference, patch, name), fill)
    else:
        source = _fill(apply_patch(reference, patch, name) + append, fill)
    if unfilled := sorted(set(re.findall(r"@([A-Z_]+)@", source))):
        raise AuditError(f"{name}: no value given for {', '.join(unfilled)}")
    _compile(source, module, name)
    return source


def load_mutant(path: Path, assignment: Assignment) -> Entry:
    description, values = _constants(path)
    if not description or "\n" in description:
        raise AuditError(f"{path.name}: needs a one-line docstring saying what the student got wrong")
    part = _part_for(assignment, values.get("MODULE"), path.name)
    caught_by = _check_list(values, "CAUGHT_BY", part, path.name)
    source = _patched_module(values, assignment, path.name)
    return Entry("mutant", path.stem, part, description, source, caught_by, values["MODULE"])


def load_exploit(path: Path, assignment: Assignment, fill: dict[str, str] | None = None) -> Entry:
    """An exploit of ``tests/exploits/``; ``fill`` replaces each ``@NAME@`` token of its code."""
    description, values = _constants(path)
    part = _part_for(assignment, values.get("MODULE"), path.name)
    for key in ("ATTACK", "BLOCKED_BY"):
        if not isinstance(values.get(key), str) or not values[key]:
            raise AuditError(f"{path.name}: needs {key}, a non-empty string")
    append = values.get("APPEND", "")
    files = values.get("FILES", [])
    if not isinstance(files, list) or not all(isinstance(item, tuple) and item and item[0] in _MAKERS
                                              for item in files):
        raise AuditError(f"{path.name}: FILES must be a list of tuples whose first item is one of {sorted(_MAKERS)}")
    if not isinstance(append, str) or not (append or values.get("PATCH") or files):
        raise AuditError(f"{path.name}: needs PATCH or APPEND (code added at the end of the reference module), or FILES")
    source = None if not (append or values.get("PATCH")) else \
        _patched_module(values, assignment, path.name, "\n\n" + append if append else "", required=False, fill=fill)
    return Entry("exploit", path.stem, part, (description or values["ATTACK"]).splitlines()[0], source,
                 _check_list(values, "CAUGHT_BY", part, path.name, empty=True), values["MODULE"],
                 may_fail=_check_list(values, "MAY_FAIL", part, path.name, empty=True),
                 attack=values["ATTACK"], blocked_by=values["BLOCKED_BY"], reports=str(values.get("REPORTS", "")),
                 must_not_exist=tuple(_fill(path, fill) for path in values.get("MUST_NOT_EXIST", [])),
                 with_victim=bool(values.get("WITH_VICTIM", False)),
                 victim_parts=_victim_parts(values, assignment, path.name),
                 files=tuple(tuple(_fill(item, fill) if isinstance(item, str) else item for item in entry)
                             for entry in files),
                 must_not_show=tuple(_fill(str(text), fill) for text in values.get("MUST_NOT_SHOW", [])))


def _victim_parts(values: dict, assignment: Assignment, name: str) -> tuple[str, ...]:
    """``VICTIM_PARTS``: the parts, besides the entry's own, that the other submission is graded on."""
    parts = values.get("VICTIM_PARTS", [])
    known = {part.id for part in assignment.parts}
    if not isinstance(parts, list) or not set(parts) <= known:
        raise AuditError(f"{name}: VICTIM_PARTS must be a list of parts of course.yml, got {parts!r}")
    return tuple(parts)


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)


def _socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(os.fsencode(path))


_MAKERS = {
    "symlink": lambda path, target: os.symlink(target, path),
    "hardlink": None,  # made by make_files: the existing file is named relative to the submission
    "sparse": _sparse,
    "fifo": lambda path: os.mkfifo(path),
    "socket": _socket,
    "file": lambda path, text: path.write_bytes(text.encode()),
}


def make_files(root: Path, files: tuple[tuple, ...]) -> None:
    """Make an exploit's special ``files`` in the submission folder ``root`` (replacing what is there)."""
    for kind, relative, *args in files:
        path = root / os.fsdecode(os.fsencode(relative))
        if os.path.lexists(path):
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "hardlink":
            os.link(root / args[0], path)
        else:
            _MAKERS[kind](path, *args)


def _fill(text: str, fill: dict[str, str] | None) -> str:
    for token, value in (fill or {}).items():
        text = text.replace(f"@{token}@", value)
    return text


def load_alternate(path: Path, assignment: Assignment) -> Entry:
    """A whole module, or (always for a notebook) the reference changed by ``PATCH``."""
    description, values = _constants(path)
    part = _part_for(assignment, values.get("ALTERNATE_FOR"), path.name)
    if "PATCH" in values or is_notebook(values["ALTERNATE_FOR"]):
        source = _patched_module(values, assignment, path.name, key="ALTERNATE_FOR")
    else:
        source = path.read_text(encoding="utf-8")
    return Entry("alternate", path.stem, part, description.splitlines()[0] if description else "",
                 source, module=values["ALTERNATE_FOR"])


def catalogue_files(root: Path, kind: str) -> list[Path]:
    """The entries of one ``kind`` (``mutants`` or ``alternates``) of the catalogue under ``root``: every
    ``root/parts/<part>/<kind>/*.py``, in part then name order."""
    return sorted((root / "parts").glob(f"*/{kind}/*.py"))


def _in_its_folder(entry: Entry, path: Path) -> Entry:
    """``entry``, which must lie in the folder of its own part (``parts/<part>/``)."""
    folder = path.parent.parent.name
    if folder != entry.part.id:
        raise AuditError(f"{path.name}: changes {entry.module}, a module of part {entry.part.id}, "
                         f"but lies in the folder of part {folder}; move it to parts/{entry.part.id}/{path.parent.name}/")
    return entry


def load_catalogue(root: Path, assignment: Assignment, parts: list[str] | None = None) -> list[Entry]:
    """The reference of each part, then every mutant and alternate under ``root/parts/<part>/``."""
    entries = [Entry("reference", "reference", part, "the reference solution", None) for part in assignment.parts]
    entries += [_in_its_folder(load_mutant(path, assignment), path) for path in catalogue_files(root, "mutants")]
    entries += [_in_its_folder(load_alternate(path, assignment), path) for path in catalogue_files(root, "alternates")]
    return [entry for entry in entries if not parts or entry.part.id in parts]


def _reference_copy(assignment: Assignment, root: Path, entry: Entry | None = None) -> None:
    """Copy the reference package and the notebooks of notebook parts into ``root``, with ``entry``'s
    module (or notebook) replaced by its source."""
    reference_with(assignment, root, [entry] if entry is not None else [])


def reference_with(assignment: Assignment, root: Path, entries: list[Entry]) -> None:
    """The reference package and notebooks in ``root``, each of ``entries`` replacing its module (or
    notebook): for several alternates at once, a submission written another way throughout."""
    shutil.copytree(assignment.solution / assignment.package, root / assignment.package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for part in assignment.parts:
        if part.notebook and (assignment.solution / part.notebook).is_file():
            shutil.copyfile(assignment.solution / part.notebook, root / part.notebook)
    for entry in entries:
        if entry.source is not None:
            _submitted_path(assignment, root, entry.module).write_text(entry.source, encoding="utf-8")


def _grade_folder(course: Course, assignment: Assignment, root: Path, parts: list[str], seed: int) -> GradeReport:
    with open_submission(root, assignment.package) as submission:
        return grade(course, assignment, submission, seed=seed, parts=parts)


def _refused(part: Part, error: SubmissionError) -> list[CheckResult]:
    """The row of a submission that could not be graded at all: every check failed, with the reason."""
    return [CheckResult(spec, CHECKS[spec.id].title, 0.0, "failed", str(error)) for spec in part.checks]


def audit_entry(course: Course, assignment: Assignment, entry: Entry, seed: int = AUDIT_SEED,
                folder: Path | None = None) -> AuditRow:
    """Grade ``entry``'s part on a copy of the reference in which its module (or notebook) is replaced,
    built in ``folder`` (by default a new temporary folder)."""
    with contextlib.ExitStack() as stack:
        root = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lora-audit-")))
        _reference_copy(assignment, root, entry)
        make_files(root, entry.files)
        try:
            report = _grade_folder(course, assignment, root, [entry.part.id], seed)
        except SubmissionError as error:
            return AuditRow(entry, _refused(entry.part, error), (str(error),))
    return AuditRow(entry, report.parts[0].checks, tuple(report.notes + report.parts[0].notes))


@contextlib.contextmanager
def _accomplice() -> Iterator[int]:
    """A server on 127.0.0.1 that answers every connection with ``answers``: what an exploit reaching
    the network would use. Yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.sendall(b"answers")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def _points_lost(course: Course, assignment: Assignment, root: Path, parts: list[str], seed: int
                 ) -> dict[str, tuple[float, str]]:
    """Points the submission folder ``root`` loses in each of ``parts``, and why (its first failed check)."""
    report = _grade_folder(course, assignment, root, parts, seed)
    return {part.part.id: (round(part.max_score - part.score, 4),
                           next((f"{check.spec.id}: {check.feedback[:300]}" for check in part.checks
                                 if check.score < check.max_score), ""))
            for part in report.parts}


def audit_exploit(course: Course, assignment: Assignment, path: Path, seed: int = AUDIT_SEED) -> AuditRow:
    """Grade the exploit at ``path`` and look for harm around it: a copy of the reference (the next
    student) graded afterwards, or alongside it for a ``WITH_VICTIM`` exploit, must keep full marks
    and its files unchanged; no process of the exploit's worker may survive the grade; the paths of
    ``MUST_NOT_EXIST`` must not exist. What is found goes to the row's ``problems``. Both submissions
    are graded from folders side by side, as ``course grade-all`` finds them. The exploit's tokens:
    ``@COURSE_ROOT@`` (this repository), ``@PORT@`` (an accomplice answering on 127.0.0.1),
    ``@VICTIM@`` (the other submission's folder) and ``@SUBMISSIONS@`` (the folder holding both).
    Both grades use a temporary folder of their own, which must be empty afterwards, and no cgroup of
    this grader may be left."""
    with tempfile.TemporaryDirectory(prefix="lora-exploit-") as tmp, _accomplice() as port, \
            _private_tempdir(Path(tmp) / "tmp") as scratch:
        # a worker of its own uid must pass through to its work folder where no mount namespace binds it
        # there (a root grader in Gradescope's container): mode 0711, nothing in it can be listed
        Path(tmp).chmod(0o711)
        submissions = Path(tmp) / "submissions"
        victim, attacker = submissions / "victim", submissions / "attacker"
        _reference_copy(assignment, victim)
        before = package_digest(victim / assignment.package)
        entry = load_exploit(path, assignment, {"COURSE_ROOT": str(course.root), "PORT": str(port),
                                                "VICTIM": str(victim), "SUBMISSIONS": str(submissions)})
        victim_parts = [entry.part.id, *(part for part in entry.victim_parts if part != entry.part.id)]
        lost: dict[str, tuple[float, str]] = {}
        beside = threading.Thread(target=lambda: lost.update(_points_lost(course, assignment, victim, victim_parts, seed)))
        if entry.with_victim:
            beside.start()
        row = audit_entry(course, assignment, entry, seed, folder=attacker)
        if entry.with_victim:
            beside.join()
        else:
            lost = _points_lost(course, assignment, victim, victim_parts, seed)
        problems = [f"processes of its worker still run: {pids}" for pids in [leftover_workers()] if pids]
        when = "graded beside it" if entry.with_victim else "graded after it"
        problems += [f"the reference {when} lost {points:g} points in {part} ({why})"
                     for part, (points, why) in lost.items() if points]
        if package_digest(victim / assignment.package) != before:
            problems.append("the files of another submission changed")
        problems += [f"{created} exists after the grade" for created in entry.must_not_exist if os.path.lexists(created)]
        left = sorted(path.name for path in scratch.iterdir())
        problems += [f"the grade left {', '.join(left[:5])} in the temporary folder"] if left else []
        problems += [f"the grade left the cgroups {', '.join(groups)}" for groups in [leftover_cgroups()] if groups]
    return dataclasses.replace(row, problems=tuple(problems))


@contextlib.contextmanager
def _private_tempdir(folder: Path) -> Iterator[Path]:
    """Make ``folder`` the temporary folder of this process (grades, workers) while the block runs."""
    folder.mkdir()
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved
        remove_tree(folder)


def render_exploits(rows: list[AuditRow]) -> str:
    """The exploit table: attack, what blocked it, the points it gained, and the outcome."""
    lines = [f"{'attack':<50} {'part':<8} {'gained':>6}  {'outcome':<13} blocked by", "=" * 150]
    for row in rows:
        lines.append(f"{row.entry.attack:<50} {row.entry.part.id:<8} {row.gained:>6g}  {row.outcome:<13} "
                     f"{row.entry.blocked_by}")
        unreported = (f"the report should say {row.entry.reports!r}; it said: {row.unreported}",) if row.unreported else ()
        for problem in row.problems + tuple(f"check {check.spec.id} failed: {check.feedback[:120]}"
                                            for check in row.collateral) + unreported:
            lines.append(f"    {problem}")
    bad = [row.entry.name for row in rows if not row.ok]
    lines.append("-" * 150)
    lines.append(f"{len(rows) - len(bad)}/{len(rows)} exploits blocked, {sum(row.gained for row in rows):g} points gained"
                 + (f"; FAILED: {', '.join(bad)}" if bad else ""))
    return "\n".join(lines)


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
