"""``otter assign`` on the master notebook, with deterministic output.

The master notebook (``solutions/<assignment>/<notebook>``) is in otter's assign format: an assignment
config cell, then questions with solution blocks and public test cells (the hidden tests are the
grader's, in :mod:`autograder.parts.notebook.checks`, never in a notebook). Otter writes a student notebook
(solutions stripped, ``grader.check`` cells) with its public tests (``tests/<question>.py``, which
``grader.check`` reads, in Jupyter and in Colab alike). Otter gives the cells it adds random ids, so the
student notebook's cell ids are renumbered: the same master always gives the same bytes, and
``course release --check`` can compare them. The grader keeps only the list of autograded questions
and their titles (``questions.json``); otter's autograder zip is not used.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import CourseError


class AssignError(CourseError):
    """``otter assign`` failed on the master notebook; the message holds the end of its output."""


@dataclass(frozen=True)
class Assigned:
    student: bytes                  # the student notebook, normalised
    public_tests: dict[str, bytes]  # its public tests for grader.check, by path (``tests/<question>.py``)
    material: dict[str, bytes]      # the grader's list of questions, by path relative to ``MATERIAL``


def assign_notebook(master: Path) -> Assigned:
    """The student notebook, its public tests and the grader's question list of ``master`` (cached on its content)."""
    return _assign(master.name, master.read_bytes())


@functools.lru_cache(maxsize=4)
def _assign(name: str, content: bytes) -> Assigned:
    with tempfile.TemporaryDirectory(prefix="lora-assign-") as tmp:
        source, out = Path(tmp) / "master" / name, Path(tmp) / "out"
        source.parent.mkdir()
        source.write_bytes(content)
        done = subprocess.run([sys.executable, "-m", "otter", "assign", str(source), str(out)], cwd=source.parent,
                              capture_output=True, text=True)
        if done.returncode != 0 or not (out / "student" / name).is_file():
            raise AssignError(f"otter assign failed on {name}:\n{(done.stdout + done.stderr)[-2000:]}")
        student = normalise_notebook((out / "student" / name).read_bytes())
        public_tests = {f"tests/{path.name}": path.read_bytes() for path in sorted((out / "student" / "tests").glob("*.py"))}
    graded = {name: title for name, title in question_titles(json.loads(content)).items()
              if f"tests/{name}.py" in public_tests}   # a manually graded question has no tests
    material = {"questions.json": (json.dumps(graded, indent=2) + "\n").encode()}
    return Assigned(student=student, public_tests=public_tests, material=material)


def normalise_notebook(content: bytes) -> bytes:
    """``content`` with every cell id replaced by its position, written the way nbformat writes."""
    notebook = json.loads(content)
    for index, cell in enumerate(notebook.get("cells", [])):
        cell["id"] = f"cell-{index:03d}"
    return (json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def question_titles(notebook: dict) -> dict[str, str]:
    """Each question's name and title, the bold heading of its prompt (``**Question 1: <title>.**``)."""
    titles, cells = {}, notebook.get("cells", [])
    for index, cell in enumerate(cells):
        source = "".join(cell.get("source", ""))
        match = re.match(r"#\s*BEGIN QUESTION\s.*?name:\s*(\w+)", source, re.S) if cell["cell_type"] == "raw" else None
        if not match:
            continue
        prompt = next(("".join(c["source"]) for c in cells[index + 1:] if c["cell_type"] == "markdown"), "")
        heading = re.match(r"\*\*Question [^:*]*:\s*(.+?)\.?\*\*", prompt)
        titles[match.group(1)] = heading.group(1) if heading else match.group(1)
    return titles
