"""Batch grading (`course grade-all`) and class statistics (`course report`).

Every grade here is real (`course grade` in its own process on copies of the reference and the stubs),
restricted to part `matmul` so that each submission takes seconds.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder.commands.grade_all import read_gradebook
from autograder.output.report import render_stats, summarise
from conftest import ROOT, course_cli, make_submission

REFERENCE = ROOT / "solutions" / "lora"
STUBS = ROOT / "assignments" / "lora"



def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((folder / "lora_lab").glob("*.py")):
            bundle.write(path, f"work/lora_lab/{path.name}")
    return archive


def rows_by_name(path: Path) -> dict[str, dict[str, str]]:
    return {row["submission"]: row for row in read_gradebook(path)}


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """A class: the reference (a folder), the stubs (a zip), one that floods its output forever at
    import, a broken zip, a folder without lora_lab/, one that tries to break another's code and
    results, and a stray file."""
    folder = tmp_path / "class"
    make_submission(REFERENCE, folder / "ada")
    attack = (f"\nimport pathlib\n"
              f"for target, text in (({str(folder / 'ada' / 'lora_lab' / 'matmul.py')!r}, 'raise SystemExit(1)'),\n"
              f"                     ({str(tmp_path / 'book' / 'gradebook-results' / 'ada.json')!r}, '{{}}')):\n"
              f"    try:\n        pathlib.Path(target).write_text(text)\n    except OSError:\n        pass\n")
    make_submission(REFERENCE, folder / "fay", {"matmul.py": (REFERENCE / "lora_lab" / "matmul.py").read_text() + attack})
    zip_folder(STUBS, folder / "bo.zip")
    make_submission(REFERENCE, folder / "cy", {"matmul.py": "while True:\n    print('spam ' * 1000)\n"})
    (folder / "dee.zip").write_bytes(b"this is not a zip")
    (folder / "eve").mkdir()
    (folder / "eve" / "notes.txt").write_text("I forgot my code")
    (folder / "roster.txt").write_text("not a submission")
    return folder


def test_grade_all_grades_everyone_and_reports_broken_ones_as_rows(tmp_path, class_folder):
    out = tmp_path / "book" / "gradebook.csv"
    result = course_cli("grade-all", str(class_folder), "--out", str(out), "--jobs", "2", "--part", "matmul")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "skipped roster.txt: neither a folder nor a .zip" in result.stderr
    assert "graded 6 submissions (2 could not be graded)" in result.stdout
    rows = rows_by_name(out)
    assert list(rows) == ["ada", "bo", "cy", "dee", "eve", "fay"]
    with out.open() as handle:
        header = next(csv.reader(handle))
    assert header[:9] == ["submission", "matmul", "linear", "lowrank", "lora", "finetune", "service", "notebook",
                          "total"]
    assert (rows["ada"]["matmul"], rows["ada"]["total"], rows["ada"]["matmul_max"], rows["ada"]["error"]) == \
        ("10", "10", "10", "")
    assert (rows["bo"]["matmul"], rows["bo"]["total"]) == ("0", "0")
    assert rows["ada"]["linear"] == "" and rows["ada"]["max_score"] == "10"  # not graded: --part matmul
    # The flood is contained by the sandbox: a zero with a reason, and nothing changes for the others.
    assert rows["cy"]["total"] == "0" and rows["cy"]["error"] == ""
    flood = json.loads((tmp_path / "book" / "gradebook-results" / "cy.json").read_text())
    assert "time budget" in flood["output"] and "printed" in flood["output"]
    assert "not a valid .zip" in rows["dee"]["error"] and rows["dee"]["total"] == "0"
    assert "no lora_lab/ folder" in rows["eve"]["error"]
    results = sorted(path.name for path in (tmp_path / "book" / "gradebook-results").iterdir())
    assert results == ["ada.json", "bo.json", "cy.json", "dee.json", "eve.json", "fay.json"]  # no temporary files
    fay = json.loads((tmp_path / "book" / "gradebook-results" / "fay.json").read_text())
    assert rows["fay"]["total"] == "10"
    if "sandbox:" not in fay["output"]:  # where namespaces are granted, the others are out of its sight
        assert (class_folder / "ada" / "lora_lab" / "matmul.py").read_text() == \
            (REFERENCE / "lora_lab" / "matmul.py").read_text()
    ada = json.loads((tmp_path / "book" / "gradebook-results" / "ada.json").read_text())
    assert ada["score"] == 10 and ada["tests"][0]["name"] == "matmul/square"

    again = course_cli("grade-all", str(class_folder), "--out", str(out), "--jobs", "2", "--part", "matmul")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "graded 0 submissions" in again.stdout and "kept 6 graded before" in again.stdout
    assert rows_by_name(out) == rows


@pytest.mark.slow   # a whole class graded, killed and graded again: CI runs it with `make test-slow`
def test_a_rerun_after_kill_9_grades_only_what_is_missing_and_force_regrades(tmp_path):
    folder = tmp_path / "class"
    for name in ("s1", "s2", "s3"):
        make_submission(REFERENCE, folder / name)
    out = tmp_path / "gradebook.csv"
    results = tmp_path / "gradebook-results"
    command = [sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out), "--jobs", "1",
               "--part", "matmul"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(results.glob("*.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the batch and the grade under way, as a crash would
    process.wait()
    done = {path.name: path.stat().st_mtime_ns for path in results.glob("*.json")}
    assert 1 <= len(done) < 3, "the batch should have been killed after its first submission"
    assert all(json.loads((results / name).read_text())["score"] == 10 for name in done)  # never half a file

    rerun = course_cli("grade-all", str(folder), "--out", str(out), "--jobs", "1", "--part", "matmul")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"graded {3 - len(done)} submissions" in rerun.stdout and f"kept {len(done)} graded before" in rerun.stdout
    assert {name: (results / name).stat().st_mtime_ns for name in done} == done
    assert {row["submission"]: row["total"] for row in read_gradebook(out)} == {"s1": "10", "s2": "10", "s3": "10"}

    forced = course_cli("grade-all", str(folder), "--out", str(out), "--jobs", "2", "--part", "matmul", "--force")
    assert forced.returncode == 0 and "graded 3 submissions" in forced.stdout
    assert all((results / name).stat().st_mtime_ns != mtime for name, mtime in done.items())


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "absent", "does not exist"),
    (lambda tmp: (tmp / "class.zip").write_bytes(b"not a zip") and tmp / "class.zip", "is not a folder"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no submissions"),
    (lambda tmp: [(tmp / "c" / "x").mkdir(parents=True), (tmp / "c" / "x.zip").write_bytes(b"")] and tmp / "c",
     "two submissions are both named 'x'"),
])
def test_grade_all_rejects_unusable_input_with_a_clear_error(tmp_path, make, message):
    result = course_cli("grade-all", str(make(tmp_path)), "--out", str(tmp_path / "gradebook.csv"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "gradebook.csv").exists()


GRADEBOOK = """submission,matmul,lora,total,max_score,matmul_max,lora_max,seconds,error
a,10,25,35,35,10,25,40.0,
b,5,25,30,35,10,25,41.0,
c,0,12.5,12.5,35,10,25,39.0,
d,10,0,10,35,10,25,12.0,
z,,,0,,,,,x.zip is not a valid .zip file
"""


def test_report_prints_per_part_statistics_and_writes_histograms(tmp_path):
    path = tmp_path / "gradebook.csv"
    path.write_text(GRADEBOOK)
    stats, errors = summarise(read_gradebook(path))
    by_column = {item.column: item for item in stats}
    assert list(by_column) == ["matmul", "lora", "total"]
    matmul = by_column["matmul"]
    assert (matmul.count, matmul.mean, matmul.median, matmul.minimum, matmul.maximum, matmul.at_full) == \
        (4, 6.25, 7.5, 0, 10, 2)
    assert (by_column["lora"].mean, by_column["lora"].at_full) == (15.625, 2)
    assert (by_column["total"].median, by_column["total"].at_full, by_column["total"].full_marks) == (21.25, 1, 35)
    assert [row["submission"] for row in errors] == ["z"]
    table = render_stats(stats, errors)
    assert "matmul (/10)" in table and "1 submissions could not be graded" in table and "z: x.zip" in table

    result = course_cli("report", str(path), "--out", str(tmp_path / "figures" / "class.png"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "total (/35)" in result.stdout and "15.62" in result.stdout
    assert (tmp_path / "figures" / "class.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert course_cli("report", str(path)).returncode == 0 and (tmp_path / "gradebook.png").is_file()


@pytest.mark.parametrize("text, message", [
    (None, "does not exist"),
    ("name,score\nx,1\n", "not a gradebook"),
    ("submission,matmul,total,max_score,matmul_max,error\nz,,0,,,broken\n", "no graded submission"),
])
def test_report_rejects_what_is_not_a_usable_gradebook(tmp_path, text, message):
    path = tmp_path / "gradebook.csv"
    if text is not None:
        path.write_text(text)
    result = course_cli("report", str(path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
