"""The student release is generated from the solutions, never edited by hand, and leaks nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.parts import CHECKS
from autograder.commands.release import (ReleaseError, build_release, drifted_files, render_readme, solution_blocks,
                                strip_solutions)

ROOT = Path(__file__).resolve().parent.parent


def course_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=cwd)


def test_committed_release_is_up_to_date():
    result = course_cli("release", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is up to date" in result.stdout


def test_check_names_drifted_missing_and_extra_files(tmp_path, assignment):
    target = tmp_path / "release"
    shutil.copytree(assignment.release, target)
    (target / "lora_lab" / "matmul.py").write_text("# edited by hand\n")
    (target / "tests" / "test_linear.py").unlink()
    (target / "notes.txt").write_text("stray")
    problems = drifted_files(build_release(assignment), target)
    assert problems == ["changed: lora_lab/matmul.py", "missing: tests/test_linear.py", "extra: notes.txt"]


def test_check_command_fails_and_names_the_file_when_stale(tmp_path):
    course_file = tmp_path / "course.yml"
    course_file.write_text((ROOT / "course.yml").read_text())
    (tmp_path / "solutions").symlink_to(ROOT / "solutions")
    shutil.copytree(ROOT / "assignments", tmp_path / "assignments")
    (tmp_path / "assignments" / "lora" / "lora_lab" / "lowrank.py").write_text("stale\n")
    result = course_cli("--course", str(course_file), "release", "--check")
    assert result.returncode == 1
    assert "changed: lora_lab/lowrank.py" in result.stdout
    regenerated = course_cli("--course", str(course_file), "release")
    assert regenerated.returncode == 0
    assert course_cli("--course", str(course_file), "release", "--check").returncode == 0


def test_no_solution_line_survives_in_the_release(assignment):
    release = build_release(assignment)
    checked = 0
    for path in sorted((assignment.solution / assignment.package).rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        inside = set()
        for begin, end in solution_blocks(source):
            inside.update(range(begin + 1, end))
        outside = {lines[i].strip() for i in range(len(lines)) if i not in inside}
        secret = {lines[i].strip() for i in inside} - outside - {""}
        stub = release[path.relative_to(assignment.solution).as_posix()].decode()
        stub_lines = {line.strip() for line in stub.splitlines()}
        assert not secret & stub_lines, f"solution lines leaked into the stub of {path.name}"
        checked += len(secret)
    assert checked > 40  # the three modules hold real solution code


def test_stubs_raise_not_implemented_with_the_todo_hint():
    source = "def f(x):\n    # TODO: double x\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n"
    stub = strip_solutions(source)
    assert stub == ("def f(x):\n    # TODO: double x\n"
                    "    raise NotImplementedError('TODO: double x')\n")
    namespace: dict = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="TODO: double x"):
        namespace["f"](1)


def test_block_without_hint_gets_a_generic_message():
    stub = strip_solutions("def g():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n")
    assert "raise NotImplementedError('TODO: implement this')" in stub


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside another"),
    ("class A:\n    # BEGIN SOLUTION\n    x = 1\n    # END SOLUTION\n  y = 2\n", "does not compile"),
])
def test_malformed_markers_are_clear_errors(source, message):
    with pytest.raises(ReleaseError, match=message):
        strip_solutions(source, "example.py")


def test_readme_gets_points_from_course_yml(assignment):
    readme = render_readme("Total {{ total_points }}; lowrank {{ points:lowrank }}\n{{ points_table }}", assignment)
    assert readme.startswith(f"Total {assignment.points:g}; lowrank 15")
    assert "| `matmul` | `lora_lab/matmul.py` |" in readme
    with pytest.raises(ReleaseError, match="unknown placeholder"):
        render_readme("{{ nope }}", assignment)


def test_the_student_readme_has_a_section_for_every_part_in_course_order(assignment):
    readme = build_release(assignment)["README.md"].decode()
    headings = [line for line in readme.splitlines() if line.startswith("### Part ")]
    assert [heading.split("`")[1] for heading in headings] == [part.id for part in assignment.parts]
    assert "### Part 6 - `service` (20 points, 2 of them on a GPU): `lora_lab/service.py`" in headings
    gpu = sum(spec.points for part in assignment.parts for spec in part.checks if spec.gpu)
    assert f"{gpu:g} of the {assignment.points:g} points are on checks that need a CUDA GPU" in readme
    assert f"out of {assignment.points - gpu:g}" in readme
    assert not any(name.startswith("readme/") for name in build_release(assignment))


def test_release_check_fails_when_a_part_has_no_readme_section(tmp_path):
    """Deleting one part's fragment makes `course release --check` fail with a message naming the part."""
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions",
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ipynb_checkpoints"))
    shutil.copytree(ROOT / "assignments", tmp_path / "assignments")
    (tmp_path / "course.yml").write_text((ROOT / "course.yml").read_text())
    (tmp_path / "solutions" / "lora" / "readme" / "service.md").unlink()
    result = course_cli("--course", str(tmp_path / "course.yml"), "release", "--check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no section for part(s) service" in result.stderr and "readme/service.md" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "solutions" / "lora" / "readme" / "extra.md").write_text("a part that does not exist\n")
    (tmp_path / "solutions" / "lora" / "readme" / "service.md").write_text("back\n")
    result = course_cli("--course", str(tmp_path / "course.yml"), "release", "--check")
    assert result.returncode == 2 and "extra.md belong to no part" in result.stderr, result.stderr


def test_release_holds_no_hidden_checks_or_grader(assignment):
    release = build_release(assignment)
    assert not any(name.startswith(("autograder", "solutions")) for name in release)
    text = "\n".join(content.decode(errors="replace") for content in release.values())
    for check in CHECKS.values():
        assert check.title not in text
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


def run_public_tests(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, cwd=folder)


def test_public_tests_pass_on_the_solutions(assignment):
    result = run_public_tests(assignment.solution)
    assert result.returncode == 0, result.stdout[-2000:]


def test_public_tests_fail_cleanly_on_the_release(assignment):
    result = run_public_tests(assignment.release)
    assert result.returncode == 1, result.stdout[-2000:]  # 1: tests failed; not 2-4 (collection errors)
    assert " passed" not in result.stdout.splitlines()[-1]
    assert "NotImplementedError: TODO:" in result.stdout


def test_make_submission_zips_the_package(assignment, tmp_path):
    out = tmp_path / "submission.zip"
    result = subprocess.run([sys.executable, str(assignment.release / "make_submission.py"), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import zipfile
    names = zipfile.ZipFile(out).namelist()
    assert "lora_lab/matmul.py" in names and "lecture.ipynb" in names
    assert all(name.startswith("lora_lab/") for name in names if name != "lecture.ipynb")


def _release_imports(release: Path) -> dict[str, str]:
    """Top-level module -> a file of the release that imports it (the Python files and the notebook's code)."""
    import ast
    import json

    sources = [(path.relative_to(release).as_posix(), path.read_text()) for path in sorted(release.rglob("*.py"))]
    for cell in json.loads((release / "lecture.ipynb").read_text())["cells"]:
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            sources.append(("lecture.ipynb", "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))))
    found: dict[str, str] = {}
    for name, source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found.update({alias.name.split(".")[0]: name for alias in node.names})
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found[node.module.split(".")[0]] = name
    return found


def test_the_students_requirements_pin_what_the_release_imports_as_the_grader_does(assignment):
    """check_notebook.py imported nbclient and nbformat, which requirements.txt did not name; and a pin
    there is a copy of pyproject.toml's that nothing compared."""
    import re
    import tomllib
    from importlib.metadata import packages_distributions

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    grader = dict(canonical(pin).split("==") for pin in
                  [*project["dependencies"], *project["optional-dependencies"]["test"]])
    lines = [line.strip() for line in (assignment.release / "requirements.txt").read_text().splitlines()]
    student = dict(canonical(line).split("==") for line in lines if line and not line.startswith("#"))
    assert {name: version for name, version in student.items() if grader.get(name) != version} == {}
    provided = packages_distributions()
    local = {assignment.package, "tiny_models", "conftest"}
    unpinned = {module: where for module, where in _release_imports(assignment.release).items()
                if module not in sys.stdlib_module_names and module not in local
                and not any(canonical(dist) in student for dist in provided.get(module, [module]))}
    assert unpinned == {}, f"imported by the release, not in its requirements.txt: {unpinned}"
