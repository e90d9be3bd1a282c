"""`course audit`: the table, the JSON, and a non-zero exit when a mutant survives or a correct answer loses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.commands.audit import AuditError, load_mutant
from conftest import ROOT


def audit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "audit", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_audit_of_a_part_passes_and_writes_json(tmp_path):
    out = tmp_path / "audit.json"
    result = audit("--part", "matmul", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "matmul   mutation score 10/10   alternates accepted 1/1" in result.stdout
    assert "audit passed" in result.stdout
    rows = json.loads(out.read_text())
    leaky = next(row for row in rows if row["entry"] == "matmul_leaky_relu")
    assert leaky["outcome"] == "killed" and leaky["caught_by"] == ["matmul/relu"]
    assert "expected 0.0" in leaky["feedback"]["matmul/relu"]


def write_catalogue(tmp_path, mutant: str, alternate: str | None = None):
    folder = tmp_path / "parts" / "matmul"
    (folder / "mutants").mkdir(parents=True)
    (folder / "alternates").mkdir()
    (folder / "mutants" / "matmul_harmless.py").write_text(mutant)
    if alternate:
        (folder / "alternates" / "matmul_wrong.py").write_text(alternate)


def test_a_surviving_mutant_and_a_rejected_alternate_fail_the_audit(tmp_path):
    write_catalogue(tmp_path, '"""Renames a local variable: not a bug, so it survives."""\nMODULE = "matmul"\n'
                              'CAUGHT_BY = ["matmul/square"]\nPATCH = [("total += A[i][k] * B[k][j]", '
                              '"total = total + A[i][k] * B[k][j]")]\n',
                    '"""Not correct at all."""\nALTERNATE_FOR = "matmul"\n'
                    'def matrix_multiply(A, B):\n    return A\n')
    result = audit("--part", "matmul", "--catalogue", str(tmp_path))
    assert result.returncode == 1
    assert "matmul_harmless" in result.stdout and "survived" in result.stdout
    assert "REJECTED" in result.stdout
    assert "AUDIT FAILED: matmul_harmless, matmul_wrong" in result.stdout


def test_malformed_entries_are_clear_errors(tmp_path, assignment):
    path = tmp_path / "matmul_bad.py"
    path.write_text('"""A patch whose text is not in the reference."""\nMODULE = "matmul"\n'
                    'CAUGHT_BY = ["matmul/square"]\nPATCH = [("no such text", "x")]\n')
    with pytest.raises(AuditError, match="occurs 0 times"):
        load_mutant(path, assignment)
    path.write_text('MODULE = "matmul"\nCAUGHT_BY = ["matmul/square"]\nPATCH = [("a", "b")]\n')
    with pytest.raises(AuditError, match="one-line docstring"):
        load_mutant(path, assignment)
    path.write_text('"""x."""\nMODULE = "nowhere"\nCAUGHT_BY = ["matmul/square"]\nPATCH = [("a", "b")]\n')
    with pytest.raises(AuditError, match="not the module of any part"):
        load_mutant(path, assignment)
    (tmp_path / "parts" / "matmul" / "mutants").mkdir(parents=True)
    path = path.rename(tmp_path / "parts" / "matmul" / "mutants" / path.name)
    result = audit("--catalogue", str(tmp_path))
    assert result.returncode == 2 and "not the module of any part" in result.stderr and "Traceback" not in result.stderr
    # an entry beside the wrong part
    path.write_text((ROOT / "tests" / "parts" / "matmul" / "mutants" / "matmul_leaky_relu.py").read_text())
    (tmp_path / "parts" / "linear" / "mutants").mkdir(parents=True)
    path.rename(tmp_path / "parts" / "linear" / "mutants" / path.name)
    result = audit("--catalogue", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "matmul_bad.py: changes matmul, a module of part matmul, but lies in the folder of part linear; " \
           "move it to parts/matmul/mutants/" in result.stderr


def test_a_notebook_entry_patches_one_code_cell_of_the_master_notebook(tmp_path, assignment):
    import json

    from autograder.commands.audit import load_alternate

    path = tmp_path / "notebook_thing.py"
    path.write_text('"""Counts r * d only."""\nMODULE = "lecture.ipynb"\nCAUGHT_BY = ["notebook/q3_params"]\n'
                    'PATCH = [("rank8_params = 8 * (d + k)", "rank8_params = 8 * d")]\n')
    mutant = load_mutant(path, assignment)
    assert mutant.part.id == "notebook" and mutant.module == "lecture.ipynb"
    cells = ["".join(cell["source"]) for cell in json.loads(mutant.source)["cells"]]
    master = json.loads((assignment.solution / "lecture.ipynb").read_text())
    master = ["".join(cell["source"]) for cell in master["cells"]]
    changed = [index for index, (new, old) in enumerate(zip(cells, master)) if new != old]
    assert len(cells) == len(master) and len(changed) == 1 and "rank8_params = 8 * d\n" in cells[changed[0]]
    path.write_text('"""Text found in a markdown cell only."""\nMODULE = "lecture.ipynb"\n'
                    'CAUGHT_BY = ["notebook/q3_params"]\nPATCH = [("## 4. Low-rank products", "x")]\n')
    with pytest.raises(AuditError, match="occurs 0 times in the code cells"):
        load_mutant(path, assignment)
    path.write_text('"""Breaks a cell."""\nMODULE = "lecture.ipynb"\nCAUGHT_BY = ["notebook/q3_params"]\n'
                    'PATCH = [("rank8_params = 8 * (d + k)", "rank8_params = 8 * (d + k")]\n')
    with pytest.raises(AuditError, match="a code cell of the patched notebook does not compile"):
        load_mutant(path, assignment)
    path.write_text('"""Same answer, other words."""\nALTERNATE_FOR = "lecture.ipynb"\n'
                    'PATCH = [("rank8_params = 8 * (d + k)", "rank8_params = 8 * d + 8 * k")]\n')
    alternate = load_alternate(path, assignment)
    assert alternate.part.id == "notebook" and "rank8_params = 8 * d + 8 * k" in alternate.source


def test_a_notebook_exploit_may_start_from_the_stub_notebook_and_name_text_never_to_show(tmp_path, assignment):
    from autograder.commands.audit import AuditRow, load_exploit
    from autograder.core.model import CheckResult

    path = tmp_path / "notebook_thing.py"
    body = ('ATTACK = "a"\nBLOCKED_BY = "b"\nMODULE = "lecture.ipynb"\nBASE = "release"\nMUST_NOT_SHOW = ["SECRET"]\n'
            'PATCH = [(\'grader = otter.Notebook("lecture.ipynb")\', \'grader = otter.Notebook("lecture.ipynb")\\nx = 1\')]\n')
    path.write_text(body)
    entry = load_exploit(path, assignment)
    assert "x = 1" in entry.source and "matrix_multiply(A, B)" not in entry.source   # the stubs, not the master
    spec = assignment.part("notebook").checks[0]
    shown = AuditRow(entry, [CheckResult(spec, "t", 0.0, "failed", "it said SECRET")])
    assert shown.leaked == ["SECRET"] and not shown.ok and shown.outcome == "LEAKED"
    path.write_text(body.replace('"lecture.ipynb"\nBASE', '"matmul"\nBASE').replace("PATCH", "APPEND = 'x = 1'\nOLD"))
    with pytest.raises(AuditError, match="BASE must be"):
        load_exploit(path, assignment)
