"""Generate the student release from the solutions: the only way ``assignments/`` is ever written.

In solution files, code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is replaced by
``raise NotImplementedError("TODO: <hint>")``, where the hint comes from an optional ``# TODO: <hint>``
comment right above the block (kept in the stub). A block at module level (the reference's own helpers and
constants) is removed whole: students write whatever helpers they like. The student README is rendered from its template with
the points from ``course.yml`` (``{{ points_table }}``, ``{{ total_points }}``, ``{{ gpu_points }}``,
``{{ cpu_points }}``, ``{{ gpu_checks }}``,
``{{ points:<part> }}``) and ``{{ part_sections }}``: one section per part of ``course.yml``, in its order,
each from its own fragment ``readme/<part id>.md`` beside the template (headed by a title generated from
``course.yml``); a part without a fragment, or a fragment of no part, stops the release.
A master notebook (``*.ipynb``, otter's assign format) goes through ``otter assign``: the student
notebook, solutions stripped, joins the release with its public tests, and the list of its autograded
questions goes to the grader (:func:`build_material`; the hidden tests are the grader's own, in
``autograder/parts/notebook/checks.py``). Everything else in the solution folder is copied
as is; hidden checks live in ``autograder/`` and can never reach the release.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..core.config import Assignment
from ..core.errors import CourseError
from ..parts.notebook.assign import AssignError, assign_notebook

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
TODO = "# TODO:"
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
SECTIONS = "readme"       # the folder of the README's part sections, beside the template; not released
SKIPPED_SUFFIXES = {".pyc"}
PLACEHOLDER = re.compile(r"\{\{\s*([\w:]+)\s*\}\}")


class ReleaseError(CourseError):
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


def _part_files(part) -> list[str]:
    return [f"`{module.replace('.', '/')}.py`" for module in part.modules] + ([f"`{part.notebook}`"] if part.notebook else [])


def part_title(assignment: Assignment, number: int) -> str:
    """The heading of part ``number`` (from 1) in the student README, from ``course.yml``."""
    part = assignment.parts[number - 1]
    files = " and ".join(_part_files(part))
    gpu = sum(check.points for check in part.checks if check.gpu)
    return f"### Part {number} - `{part.id}` ({part.points:g} points{f', {gpu:g} of them on a GPU' if gpu else ''}): {files}"


def part_sections(folder: Path, assignment: Assignment) -> str:
    """The README's part sections: ``folder/<part id>.md`` for every part, in the order of ``course.yml``."""
    ids = [part.id for part in assignment.parts]
    found = {path.stem for path in folder.glob("*.md")} if folder.is_dir() else set()
    missing = [part for part in ids if part not in found]
    if missing:
        raise ReleaseError(f"the student README has no section for part(s) {', '.join(missing)}: write "
                           f"{', '.join(f'{folder.name}/{part}.md' for part in missing)} in {folder.parent}")
    extra = sorted(found - set(ids))
    if extra:
        raise ReleaseError(f"{folder}: section(s) {', '.join(f'{name}.md' for name in extra)} belong to no part "
                           f"of course.yml (parts: {', '.join(ids)})")
    return "\n\n".join(part_title(assignment, number) + "\n" + (folder / f"{part}.md").read_text(encoding="utf-8").strip()
                        for number, part in enumerate(ids, start=1))


def render_readme(template: str, assignment: Assignment, filename: str = "README.md", sections: str | None = None) -> str:
    """Fill the README template's placeholders with the structure and points of ``course.yml`` (and
    ``{{ part_sections }}`` with ``sections``, see :func:`part_sections`)."""
    table = ["| part | module | what you build | points |", "| --- | --- | --- | --- |"]
    for part in assignment.parts:
        files = ", ".join(_part_files(part))
        table.append(f"| `{part.id}` | {files} | {part.title} | {part.points:g} |")
    table.append(f"| | | **total** | **{assignment.points:g}** |")
    gpu = sum(check.points for part in assignment.parts for check in part.checks if check.gpu)
    values = {"points_table": "\n".join(table), "total_points": f"{assignment.points:g}", "gpu_points": f"{gpu:g}",
              "cpu_points": f"{assignment.points - gpu:g}",
              "gpu_checks": ", ".join(f"`{check.id}`" for part in assignment.parts for check in part.checks if check.gpu)}
    if sections is not None:
        values["part_sections"] = render_readme(sections, assignment, filename)
    values.update({f"points:{part.id}": f"{part.points:g}" for part in assignment.parts})

    def substitute(match: re.Match) -> str:
        if match.group(1) not in values:
            raise ReleaseError(f"{filename}: unknown placeholder {match.group(0)} "
                               f"(known: {', '.join(sorted(values))})")
        return values[match.group(1)]

    return PLACEHOLDER.sub(substitute, template)


def _release_files(root: Path, sections: bool = True) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()
                  and not SKIPPED_PARTS & set(path.relative_to(root).parts) and path.suffix not in SKIPPED_SUFFIXES
                  and (sections or path.relative_to(root).parts[0] != SECTIONS))


def build_release(assignment: Assignment) -> dict[str, bytes]:
    """Every file of the student release, by path relative to the release folder."""
    files = {}
    for path in _release_files(assignment.solution, sections=False):
        relative = path.relative_to(assignment.solution).as_posix()
        if path.suffix == ".py":
            files[relative] = strip_solutions(path.read_text(encoding="utf-8"), relative).encode()
        elif path.suffix == ".ipynb":
            assigned = _assigned(path)
            files[relative] = assigned.student
            files.update({(Path(relative).parent / test).as_posix(): content
                          for test, content in assigned.public_tests.items()})
        elif relative == "README.md":
            template = path.read_text(encoding="utf-8")
            if "{{ part_sections }}" not in template:
                raise ReleaseError(f"{relative}: the template must hold {{{{ part_sections }}}}, where the section of "
                                   f"every part goes")
            sections = part_sections(assignment.solution / SECTIONS, assignment)
            files[relative] = render_readme(template, assignment, relative, sections).encode()
        else:
            files[relative] = path.read_bytes()
    return files


def build_material(assignment: Assignment) -> dict[str, bytes]:
    """The grader's material of the assignment's master notebook (its autograded questions and their
    titles), by path relative to :data:`~autograder.parts.notebook.MATERIAL`; empty without a notebook."""
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
