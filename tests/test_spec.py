"""The spec says what the checks check: autograder/parts/<part>/spec.md names, for every hidden check of
the part, the sentence of the student release (README or a stub's docstring) it enforces, quoted as the
release has it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = sorted((ROOT / "autograder" / "parts").glob("*/spec.md"))
ROW = re.compile(r"^\| `([\w/]+)` \| `([\w./]+)` \| (.*) \|$", re.M)


def normalised(text: str) -> str:
    return " ".join(text.replace("`", "").replace("**", "").split())


def release_text(release: Path, where: str) -> str:
    path = release / where
    if path.suffix != ".py":
        return normalised(path.read_text(encoding="utf-8"))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = [ast.get_docstring(node, clean=False) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return normalised(" ".join(doc for doc in docstrings if doc))


def rows() -> dict[str, tuple[str, list[str]]]:
    found: dict[str, tuple[str, list[str]]] = {}
    for table in TABLES:
        for check, where, sentence in ROW.findall(table.read_text(encoding="utf-8")):
            assert check not in found, f"{check} has two rows"
            assert check.startswith(f"{table.parent.name}/"), f"{check} is in the table of {table.parent.name}"
            found[check] = (where, re.findall(r"«(.*?)»", sentence))
    return found


def test_every_check_has_a_row_naming_where_its_sentence_is(assignment):
    table = rows()
    checks = [spec.id for part in assignment.parts for spec in part.checks]
    assert sorted(table) == sorted(checks)
    for part in assignment.parts:
        for spec in part.checks:
            where, quotes = table[spec.id]
            assert (assignment.release / where).is_file(), f"{spec.id}: {where} is not in the release"
            assert quotes or part.notebook, f"{spec.id} quotes no sentence"


def test_every_quoted_sentence_is_in_the_release_as_written(assignment):
    missing = []
    for check, (where, quotes) in rows().items():
        text = release_text(assignment.release, where)
        missing += [f"{check} ({where}): {quote!r}" for quote in quotes if normalised(quote) not in text]
    assert not missing, "\n".join(missing)
