"""The student's path, end to end: the release alone, the commands its README gives, make_submission.py,
then `course grade` on the zip that script wrote. The zip must grade exactly like the folder it came from,
for the reference, for a buggy submission and for the untouched stubs.

This is the test that catches a zip the grader reads differently from the folder (a missing chat.html cost
`service/page` on every zip while the folder got full marks). It grades five times, two at a time (about three minutes on an idle 2-core machine).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.commands.audit import load_mutant
from conftest import ROOT

MUTANT = ROOT / "tests" / "parts" / "lora" / "mutants" / "lora_apply_endswith_no_dot.py"
CACHES = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ipynb_checkpoints")


def run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def readme_commands(readme: str, section: str) -> list[list[str]]:
    """The commands of the first ``bash`` block under the README's ``section`` heading, comments removed;
    ``python`` and ``pytest`` run with this interpreter."""
    body = readme.split(f"## {section}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", body, re.S).group(1)
    commands = []
    for line in block.splitlines():
        words = shlex.split(line.split("#", 1)[0])
        if words:
            commands.append([sys.executable, *(["-m", "pytest", "-p", "no:cacheprovider"] if words[0] == "pytest"
                                               else []), *words[1:]])
    return commands


def release_copy(assignment, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(assignment.release, folder, ignore=CACHES)
    return folder


def drop_in_reference(assignment, folder: Path) -> None:
    """What a student who solved everything has: the reference's files in lora_lab/ and a filled notebook."""
    shutil.copytree(assignment.solution / assignment.package, folder / assignment.package, dirs_exist_ok=True,
                    ignore=CACHES)
    shutil.copyfile(assignment.solution / "lecture.ipynb", folder / "lecture.ipynb")


def pack(folder: Path) -> tuple[Path, str]:
    out = folder.parent / f"{folder.name}.zip"
    done = run([sys.executable, "make_submission.py", "--out", str(out)], folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout + done.stderr


def grade_command(path: Path, out: Path, parts: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", str(path), "--out", str(out),
            *(word for part in parts for word in ("--part", part))]


def grade(*paths: Path, parts: tuple[str, ...] = ()) -> list[dict]:
    """``course grade PATH --out`` for each of ``paths``, all at once (each grade is its own process)."""
    outs = [path.parent / f"{path.name}.results.json" for path in paths]
    running = [subprocess.Popen(grade_command(path, out, parts), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=ROOT) for path, out in zip(paths, outs)]
    for process in running:
        said, _ = process.communicate(timeout=900)
        assert process.returncode == 0, said
    return [json.loads(out.read_text()) for out in outs]


def by_check(results: dict) -> dict[str, tuple]:
    return {test["name"]: (test["score"], test["max_score"], test.get("status"), test.get("output"))
            for test in results["tests"]}


def test_the_reference_submitted_as_a_student_would_gets_full_marks_and_grades_like_the_folder(assignment,
                                                                                                tmp_path):
    folder = release_copy(assignment, tmp_path, "student")
    drop_in_reference(assignment, folder)
    readme = (folder / "README.md").read_text()
    for command in readme_commands(readme, "Checking your work"):
        done = run(command, folder)
        assert done.returncode == 0, f"{shlex.join(command[1:])}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    (folder / assignment.package / "__pycache__").mkdir(exist_ok=True)   # what running the tests leaves
    (folder / assignment.package / "__pycache__" / "stale.pyc").write_bytes(b"\0")
    archive, said = pack(folder)
    names = sorted(zipfile.ZipFile(archive).namelist())
    package_files = sorted(path.relative_to(folder).as_posix() for path in (folder / assignment.package).rglob("*")
                           if path.is_file() and "__pycache__" not in path.parts)
    assert names == sorted([*package_files, "lecture.ipynb"]), names
    assert f"{assignment.package}/chat.html" in names and all(name in said for name in names)

    zipped, as_folder = grade(archive, folder)
    assert zipped["score"] == zipped["max_score"] == as_folder["score"] == as_folder["max_score"], \
        [test["name"] for test in zipped["tests"] if test["score"] != test["max_score"]]
    assert {test["tags"][0] for test in zipped["tests"]} == {part.id for part in assignment.parts}
    assert by_check(zipped) == by_check(as_folder)
    assert zipped["extra_data"]["provenance"]["seed"] == as_folder["extra_data"]["provenance"]["seed"]


def test_a_buggy_submission_loses_the_same_points_zipped_as_in_its_folder(assignment, tmp_path):
    mutant = load_mutant(MUTANT, assignment)
    folder = release_copy(assignment, tmp_path, "buggy")
    drop_in_reference(assignment, folder)
    (folder / assignment.package / f"{mutant.module}.py").write_text(mutant.source)
    archive, _ = pack(folder)
    parts = (mutant.part.id,)
    zipped, as_folder = grade(archive, folder, parts=parts)
    assert by_check(zipped) == by_check(as_folder)
    failed = {name for name, (score, maximum, _, _) in by_check(zipped).items() if score < maximum}
    assert failed == set(mutant.caught_by) and zipped["score"] < zipped["max_score"]


def test_the_untouched_stubs_score_zero_in_every_part_with_their_todo_messages(assignment, tmp_path):
    folder = release_copy(assignment, tmp_path, "stubs")
    archive, said = pack(folder)
    assert "warning" not in said   # the release's own notebook is there
    [results] = grade(archive)
    assert results["score"] == 0
    assert {test["tags"][0] for test in results["tests"]} == {part.id for part in assignment.parts}
    expected = {spec.id for part in assignment.parts for spec in part.checks if not spec.gpu}
    graded = {test["name"] for test in results["tests"] if test.get("status") == "failed"}
    assert expected <= graded, sorted(expected - graded)
    for test in results["tests"]:
        part = test["tags"][0]
        if test["name"] in expected and not assignment.part(part).notebook:
            assert "TODO:" in test["output"], f"{test['name']}: {test['output'][:300]!r}"


def test_make_submission_refuses_links_and_oversized_packages_and_warns_without_the_notebook(assignment, tmp_path):
    folder = release_copy(assignment, tmp_path, "student")
    (folder / "lecture.ipynb").unlink()
    archive, said = pack(folder)
    assert "warning: lecture.ipynb is missing" in said
    assert "lecture.ipynb" not in zipfile.ZipFile(archive).namelist()

    (folder / assignment.package / "notes.txt").symlink_to(ROOT / "README.md")
    done = run([sys.executable, "make_submission.py"], folder)
    assert done.returncode == 2 and "notes.txt is a symbolic link" in done.stderr and "Traceback" not in done.stderr
    (folder / assignment.package / "notes.txt").unlink()

    limits = load_make_submission(folder)
    with open(folder / assignment.package / "weights.bin", "wb") as big:
        big.truncate(limits.MAX_BYTES + 1)   # sparse: no disk space used
    done = run([sys.executable, "make_submission.py"], folder)
    assert done.returncode == 2 and "weights.bin" in done.stderr and "MB" in done.stderr, done.stderr
    assert not (folder / "submission.zip").exists()


def load_make_submission(folder: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_submission_under_test", folder / "make_submission.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_submission_limits_are_the_graders(assignment):
    from autograder.engine import submission

    module = load_make_submission(assignment.release)
    limits = {name: value for name, value in vars(module).items() if name.startswith("MAX_")}
    assert limits and all(getattr(submission, name) == value for name, value in limits.items()), limits
    assert set(module.CACHES) <= submission.IGNORED | {".pytest_cache"}
