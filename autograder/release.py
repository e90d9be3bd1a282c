"""Generate the student release from the solutions: the only way ``assignments/`` is ever written.

In solution files, code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is replaced by
``raise NotImplementedError("TODO: <hint>")``, where the hint comes from an optional ``# TODO: <hint>``
comment right above the block (kept in the stub). A block at module level (the reference's own helpers and
constants) is removed whole: students write whatever helpers they like. The student README is rendered from its template with
the points from ``course.yml`` (``{{ points_table }}``, ``{{ total_points }}``, ``{{ points:<part> }}``).
A master notebook (``*.ipynb``, otter's assign format) goes through ``otter assign``: the student
notebook, solutions stripped, joins the release with its public tests, and the list of its autograded
questions goes to the grader (:func:`build_material`; the hidden tests are the grader's own, in
``autograder/checks/notebook.py``). Everything else in the solution folder is copied
as is; hidden checks live in ``autograder/`` and can never reach the release.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .config import Assignment
from .notebook.assign import AssignError, assign_notebook

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
TODO = "# TODO:"
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
SKIPPED_SUFFIXES = {".pyc"}
PLACEHOLDER = re.compile(r"\{\{\s*([\w:]+)\s*\}\}")


class ReleaseError(Exception):
    """A solution file is malformed (unbalanced markers, a stub that does not compile, ...)."""


def solution_blocks(source: str, filename: str = "<solution>") -> list[tuple[int, int]]:
    """Line ranges ``(begin, end)`` (0-based, inclusive of the markers) of every solution block."""
    blocks, begin = [], None
    for number, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise ReleaseError(f"{filename}:{number + 1}: {BEGIN} inside another solution block")
            begin = number
        elif marker == END:
            if begin is None:
                raise ReleaseError(f"{filename}:{number + 1}: {END} without {BEGIN}")
            blocks.append((begin, number))
            begin = None
    if begin is not None:
        raise ReleaseError(f"{filename}:{begin + 1}: {BEGIN} is never closed by {END}")
    return blocks


def strip_solutions(source: str, filename: str = "<solution>") -> str:
    """The student stub of a solution file."""
    lines = source.splitlines(keepends=True)
    blocks = solution_blocks(source, filename)
    output, cursor = [], 0
    for begin, end in blocks:
        output += lines[cursor:begin]
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        above = lines[begin - 1].strip() if begin else ""
        hint = above[len(TODO):].strip() if above.startswith(TODO) else "implement this"
        if indent:
            output.append(f"{indent}raise NotImplementedError({f'TODO: {hint}'!r})\n")
        cursor = end + 1
    output += lines[cursor:]
    # A removed module-level block leaves its surrounding blank lines behind; keep at most two.
    stub = re.sub(r"\n{4,}", "\n\n\n", "".join(output)).rstrip("\n") + "\n"
    try:
        compile(stub, filename, "exec")
    except SyntaxError as error:
        raise ReleaseError(f"{filename}: the generated stub does not compile ({error.msg}, line {error.lineno}); "
                           f"solution blocks must sit inside function bodies") from None
    return stub


def render_readme(template: str, assignment: Assignment, filename: str = "README.md") -> str:
    """Fill the README template's placeholders with the structure and points of ``course.yml``."""
    table = ["| part | module | what you build | points |", "| --- | --- | --- | --- |"]
    for part in assignment.parts:
        files = ", ".join([f"`{module.replace('.', '/')}.py`" for module in part.modules]
                          + ([f"`{part.notebook}`"] if part.notebook else []))
        table.append(f"| `{part.id}` | {files} | {part.title} | {part.points:g} |")
    table.append(f"| | | **total** | **{assignment.points:g}** |")
    values = {"points_table": "\n".join(table), "total_points": f"{assignment.points:g}"}
    values.update({f"points:{part.id}": f"{part.points:g}" for part in assignment.parts})

    def substitute(match: re.Match) -> str:
        if match.group(1) not in values:
            raise ReleaseError(f"{filename}: unknown placeholder {match.group(0)} "
                               f"(known: {', '.join(sorted(values))})")
        return values[match.group(1)]

    return PLACEHOLDER.sub(substitute, template)


def _release_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()
                  and not SKIPPED_PARTS & set(path.relative_to(root).parts) and path.suffix not in SKIPPED_SUFFIXES)


def build_release(assignment: Assignment) -> dict[str, bytes]:
    """Every file of the student release, by path relative to the release folder."""
    files = {}
    for path in _release_files(assignment.solution):
        relative = path.relative_to(assignment.solution).as_posix()
        if path.suffix == ".py":
            files[relative] = strip_solutions(path.read_text(encoding="utf-8"), relative).encode()
        elif path.suffix == ".ipynb":
            assigned = _assigned(path)
            files[relative] = assigned.student
            files.update({(Path(relative).parent / test).as_posix(): content
                          for test, content in assigned.public_tests.items()})
        elif relative == "README.md":
            files[relative] = render_readme(path.read_text(encoding="utf-8"), assignment, relative).encode()
        else:
            files[relative] = path.read_bytes()
    return files


def build_material(assignment: Assignment) -> dict[str, bytes]:
    """The grader's material of the assignment's master notebook (its autograded questions and their
    titles), by path relative to :data:`~autograder.notebook.MATERIAL`; empty without a notebook."""
    masters = sorted(path for path in _release_files(assignment.solution) if path.suffix == ".ipynb")
    if len(masters) > 1:
        raise ReleaseError(f"{assignment.solution}: one master notebook at most, found {len(masters)}")
    return _assigned(masters[0]).material if masters else {}


def _assigned(master: Path):
    try:
        return assign_notebook(master)
    except AssignError as error:
        raise ReleaseError(str(error)) from None


def drifted_files(files: dict[str, bytes], target: Path) -> list[str]:
    """How the release folder ``target`` differs from ``files``: one line per changed, missing or extra file."""
    problems = []
    existing = {path.relative_to(target).as_posix() for path in _release_files(target)} if target.is_dir() else set()
    for relative, content in sorted(files.items()):
        if relative not in existing:
            problems.append(f"missing: {relative}")
        elif (target / relative).read_bytes() != content:
            problems.append(f"changed: {relative}")
    problems += [f"extra: {relative}" for relative in sorted(existing - set(files))]
    return problems


def write_release(files: dict[str, bytes], target: Path) -> None:
    """Replace the release folder's contents with ``files``."""
    if target.exists():
        shutil.rmtree(target)
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
