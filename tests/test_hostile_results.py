"""A grade always ends, in bounded time, with a result; its feedback shows nothing hidden and cannot lie.

Issue 27 (3, 4): hostile result files (an unterminated string, a 5,000-digit integer, a tensor dtype the
reader does not know), an exception anywhere while a part is read or judged, a zip with a duplicate
member, worker strings of megabytes or with terminal escapes, a judge's traceback, and a grade killed by
``grade-all``. Each test builds the hostile input itself and asserts what the grade does with it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from autograder.core.model import CHECKS, Check, CheckResult, Fail, Outcome, PlannedCheck, ProbeCall
from autograder.engine import grading
from autograder.engine.judge import judge_check
from autograder.engine.submission import SubmissionError, open_submission
from autograder.output.results import render_table, to_gradescope
from autograder.runtime import transport
from autograder.sandbox import WorkerReport
from conftest import FIXED_SEED, ROOT, course_cli

CONTROL = "\x1b[1A\x1b[2K\r  PASS  square                 10 / 10\x07\x00\x7f\x9b"


def _in_child(code: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a hang is a failed test, not a stuck suite)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# --- 1. reading worker output is linear-time ------------------------------------------------------------

@pytest.mark.parametrize("body", ["""b'["' + b'\\\\"' * 1_000_000""", """b'{"a": "' + b'\\\\\\\\\\\\"x' * 500_000""",
                                  """b'"' * 2_000_001""", """b'["' + b'\\\\' * 2_000_000""", """b'["' + b'[' * 2_000_000"""])
def test_an_unterminated_string_is_scanned_in_linear_time(body):
    """2 MB of escaped quotes with no closing quote made the string pattern backtrack: hours of CPU."""
    code = ("import sys\nfrom autograder.runtime import transport\n"
            f"data = {body}\n"
            "try:\n    transport.scan_json(data, 10**7)\nexcept transport.TransportError:\n    pass\nprint('done')\n")
    assert "done" in _in_child(code, timeout=60).stdout


def test_the_scan_finds_nesting_outside_strings_only():
    transport.scan_json(b'["[[[[[[", "\\"[[[[", "\\\\", {"a": [1]}]', 100)   # brackets inside strings do not count
    deep = b"[" * 40 + b"]" * 40
    with pytest.raises(transport.TransportError, match="nested"):   # after an escaped backslash the string ended
        transport.scan_json(b'["\\\\", ' + deep + b"]", 1000)
    transport.scan_json(b'["\\"' + deep + b'"]', 1000)   # after an escaped quote it goes on
    transport.scan_json(b"[" * 32 + b"]" * 32, 1000)
    with pytest.raises(transport.TransportError, match="nested"):
        transport.scan_json(b"[" * 33 + b"]" * 33, 1000)


def _write(folder: Path, name: str, text: bytes, tensors: bytes | None = None) -> Path:
    (folder / f"{name}.json").write_bytes(text)
    if tensors is not None:
        (folder / f"{name}.safetensors").write_bytes(tensors)
    return folder / name


def test_an_unterminated_result_file_is_refused_in_seconds(tmp_path):
    stem = _write(tmp_path, "0000", b'{"ok": true, "value": ["' + b'\\"' * 1_000_000)
    code = ("from pathlib import Path\nfrom autograder.runtime import transport\n"
            f"try:\n    transport.read(Path({str(stem)!r}))\nexcept transport.TransportError as error:\n"
            "    print('refused', error)\n")
    assert "refused" in _in_child(code, timeout=60).stdout


# --- 2. integers bounded, unknown dtypes refused: a TransportError, never another exception ------------

def test_a_5000_digit_integer_is_a_transport_error(tmp_path):
    stem = _write(tmp_path, "0000", b'{"ok": true, "value": ' + b"7" * 5000 + b"}")
    with pytest.raises(transport.TransportError, match="digits"):
        transport.read(stem)


def test_integers_are_bounded_even_without_pythons_own_limit(tmp_path):
    stem = _write(tmp_path, "0000", b'{"ok": true, "value": [' + b"9" * 200_000 + b"]}")
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        with pytest.raises(transport.TransportError, match="digits"):
            transport.read(stem)
    finally:
        sys.set_int_max_str_digits(saved)


def _safetensors(header: dict | bytes, data: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("dtype, size", [("F4", 1), ("F8_E8M0", 2), ("XYZ", 2), ("F6_E2M3", 2), ("C64", 16),
                                         ("U64", 16), ("F8_E4M3", 2)])
def test_a_tensor_of_an_unknown_dtype_is_a_transport_error(tmp_path, dtype, size):
    tensors = _safetensors({"t0": {"dtype": dtype, "shape": [2], "data_offsets": [0, size]}}, b"\0" * size)
    stem = _write(tmp_path, "0000", b'{"ok": true, "value": {"__tensor__": "t0"}}', tensors)
    with pytest.raises(transport.TransportError):
        transport.read(stem)


@pytest.mark.parametrize("header", [b'{"t0": {"dtype": "F32", "shape": [1], "data_offsets": [0, ' + b"4" * 5000 + b"]}}",
                                    b'{"t0": ' + b"[" * 5000 + b"]" * 5000 + b"}", b"\xff\xfe", b"[],"])
def test_a_hostile_tensor_header_is_a_transport_error(tmp_path, header):
    stem = _write(tmp_path, "0000", b'{"ok": true, "value": 1}', _safetensors(header, b"\0" * 4))
    with pytest.raises(transport.TransportError):
        transport.read(stem)


def test_a_tensor_file_that_lies_about_its_header_length_is_a_transport_error(tmp_path):
    stem = _write(tmp_path, "0000", b'{"ok": true, "value": 1}', struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(transport.TransportError):
        transport.read(stem)


# --- 3. an exception while reading or judging a part costs that part's checks, never the grade ---------

@pytest.fixture
def reference_submission(assignment):
    with open_submission(assignment.solution, assignment.package) as submission:
        yield submission


@pytest.mark.parametrize("where", ["run_probes", "judge_part"])
def test_an_exception_while_grading_a_part_costs_its_checks_with_a_reason(course, assignment, reference_submission,
                                                                          monkeypatch, capsys, where):
    secret = f"{ROOT}/autograder/engine/secret-path.py"

    original = getattr(grading, where)

    def broken(*args, **kwargs):   # breaks on part matmul only
        if (args[2] if where == "run_probes" else args[0][0].spec.id.split("/")[0]) == "matmul":
            raise RuntimeError(f"boom at {secret}")
        return original(*args, **kwargs)

    monkeypatch.setattr(grading, where, broken)
    report = grading.grade(course, assignment, reference_submission, seed=FIXED_SEED, parts=["matmul", "lowrank"])
    matmul, lowrank = report.parts
    assert matmul.score == 0 and all(check.status == "failed" for check in matmul.checks)
    assert all("the grader could not grade this part" in check.feedback for check in matmul.checks)
    results = to_gradescope(report)
    staff = results["extra_data"].pop("staff")
    shown = render_table(report) + json.dumps(results)   # what a student sees: all but the staff section
    for leak in (secret, "boom", "Traceback", f"{ROOT}/autograder"):
        assert leak not in shown
    assert any("RuntimeError: boom" in line and "Traceback" in line for line in staff)
    assert "RuntimeError: boom" in capsys.readouterr().err     # the staff log: stderr
    assert lowrank.score == lowrank.max_score > 0


# --- 4. an unreadable zip is a one-line submission error ----------------------------------------------

def _zip(path: Path, members: list[tuple[str, bytes]], **options) -> Path:
    with zipfile.ZipFile(path, "w", **options) as bundle:
        for name, data in members:
            bundle.writestr(name, data)
    return path


def _unsupported_method(path: Path) -> Path:
    _zip(path, [("lora_lab/matmul.py", b"x = 1\n")])
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):   # compression method 99 (AES)
        at = data.find(signature)
        data[at + offset:at + offset + 2] = struct.pack("<H", 77)
    path.write_bytes(bytes(data))
    return path


def _encrypted(path: Path) -> Path:
    _zip(path, [("lora_lab/matmul.py", b"x = 1\n")])
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):   # general purpose flag bit 0
        at = data.find(signature)
        data[at + offset] |= 1
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make", [
    lambda path: _zip(path, [("lora_lab/matmul.py", b"x = 1\n"), ("lora_lab/matmul.py", b"x = 2\n")]),
    lambda path: _zip(path, [("lora_lab/matmul.py", b"x = 1\n"), ("lora_lab/matmul.py/inner.py", b"x = 2\n")]),
    lambda path: _zip(path, [("lora_lab/sub/inner.py", b"x = 1\n"), ("lora_lab/sub", b"x = 2\n")]),
    _unsupported_method, _encrypted,
], ids=["duplicate member", "file then folder", "folder then file", "unsupported compression", "encrypted"])
def test_an_unreadable_zip_is_a_one_line_submission_error(tmp_path, assignment, make):
    path = make(tmp_path / "submission.zip")
    with pytest.raises(SubmissionError) as raised:
        with open_submission(path, assignment.package):
            pass
    assert "\n" not in str(raised.value) and str(path) in str(raised.value)


def test_course_grade_of_a_zip_with_a_duplicate_member_writes_results(tmp_path):
    path = _zip(tmp_path / "submission.zip", [("lora_lab/matmul.py", b"x = 1\n"), ("lora_lab/matmul.py", b"x = 2\n")])
    ran = course_cli("grade", str(path), "--out", str(tmp_path / "results.json"), "--part", "matmul")
    assert ran.returncode == 2 and "Traceback" not in ran.stderr and len(ran.stderr.strip().splitlines()) == 1
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["extra_data"]["error_kind"] == "submission" and "matmul.py" in data["extra_data"]["error"]


# --- 5, 8. worker strings: capped, no control characters, wrapping linear, results.json bounded --------

def _worker(outcomes: list[Outcome], **extra) -> WorkerReport:
    return WorkerReport(outcomes=outcomes, **extra)


@pytest.mark.parametrize("size", [4 * 2**20])
def test_megabytes_of_worker_text_with_escapes_are_capped_and_cleaned(course, assignment, reference_submission,
                                                                      monkeypatch, size):
    """Every call of the part fails with a message of ``size`` characters (no spaces: the worst case of
    the old wrapping) full of terminal escapes, and the import error and printed output hold them too."""
    message = (CONTROL + "x" * 1000) * (size // 1000)

    def run_probes(root, package, module, calls, *args, **kwargs):
        error = {"type": "ValueError" + CONTROL, "message": message, "where": "lora_lab/matmul.py" + CONTROL}
        return _worker([Outcome(ok=False, error=error) for _ in calls],
                       import_error={"type": "X" + CONTROL, "message": message, "where": CONTROL},
                       output=message[:2000], output_bytes=len(message))

    monkeypatch.setattr(grading, "run_probes", run_probes)
    started = time.process_time()
    report = grading.grade(course, assignment, reference_submission, seed=FIXED_SEED, parts=["matmul"])
    table = render_table(report)
    results = json.dumps(to_gradescope(report), indent=2)
    seconds = time.process_time() - started
    for text in (table, results, *(check.feedback for check in report.parts[0].checks), *report.parts[0].notes):
        assert not any(char in text for char in "\x1b\x07\x00\x7f\x9b\r"), repr(text[:200])
    assert len(results.encode()) < 1_000_000, f"results.json of {len(results)} bytes"
    assert len(table) < 200_000
    assert all(len(check.feedback) <= grading.MAX_FEEDBACK for check in report.parts[0].checks)
    print(f"graded, rendered and serialised in {seconds:.2f} s of CPU")


def test_the_table_wraps_in_linear_time():
    """The old wrapping sliced a long word one line at a time: quadratic (4 MB: 75 s)."""
    code = ("from autograder.output.results import wrap\n"
            "lines = wrap('y' * 8_000_000 + ' z' * 1_000_000, 90, '  ', '    ')\n"
            "assert all(len(line) <= 90 for line in lines)\nprint('done', len(lines))\n")
    assert "done" in _in_child(code, timeout=60).stdout


# --- 7. a judge's exception: no traceback or grader source in feedback, the staff log has it ------------

class _Broken(Check):
    id = "matmul/square"
    title = "broken"

    def judge(self, calls, got, want):
        secret_hidden_check_line = got[0].value["result"] + 1  # noqa: F841 - the line a traceback would show
        raise Fail("unreachable")


def test_a_judge_exception_shows_no_traceback_or_source(course, assignment, monkeypatch):
    monkeypatch.setitem(CHECKS, "matmul/square", _Broken())
    spec = next(spec for part in assignment.parts for spec in part.checks if spec.id == "matmul/square")
    planned = PlannedCheck(spec, [ProbeCall("call", {"function": "matrix_multiply", "args": []})])
    result = judge_check(planned, [Outcome(ok=True, value={"result": "text"})], [Outcome(ok=True, value={})])
    assert result.status == "failed" and result.score == 0
    for leak in ("Traceback", "secret_hidden_check_line", str(ROOT), "test_hostile_results.py", "TypeError"):
        assert leak not in result.feedback, result.feedback
    assert "could not judge this check" in result.feedback
    assert "secret_hidden_check_line" in result.staff and "TypeError" in result.staff


# --- 6. a grade killed by grade-all leaves nothing behind ---------------------------------------------

def test_a_grade_killed_by_grade_all_leaves_nothing_in_the_temporary_folder(course, assignment, reference_with,
                                                                          tmp_path, monkeypatch):
    from autograder.commands import grade_all

    # part lora's budget is 60 s: the grade is killed at 30 s, while its worker hangs
    hanging = reference_with({"lora.py": "import time\ntime.sleep(600)\n"}, name="class/hangs")
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setattr(grade_all, "grade_timeout", lambda assignment: 30)
    out = tmp_path / "results" / "hangs.json"
    out.parent.mkdir()
    error = grade_all.grade_one(course, assignment, grade_all.Entry("hangs", hanging), out, ["lora"], jobs=1)
    assert error and "did not finish" in error
    time.sleep(1)   # the killed grade's workers end with it (their parent-death signal)
    left = sorted(path.name for path in private.iterdir())
    assert not left, f"the killed grade left {left}"
    assert json.loads(out.read_text())["extra_data"]["error_kind"] == "grader"


@pytest.mark.slow   # three real grades in their own processes (about a minute on two cores)
def test_grade_all_of_a_class_with_hostile_rows_grades_every_row(course, assignment, reference_with, tmp_path):
    """A zip with a member twice and a submission whose result files hold a 5,000-digit integer beside an
    honest submission: each row gets its own results, none a grader failure retried on every rerun."""
    from autograder.commands.audit import load_exploit
    from autograder.commands.grade_all import grade_all, read_results, results_folder
    from autograder.output.gradebook import read_gradebook

    entry = load_exploit(ROOT / "tests" / "exploits" / "matmul_huge_integer_result.py", assignment)
    reference_with(name="class/honest")
    reference_with({"matmul.py": entry.source}, name="class/huge_integer")
    _zip(tmp_path / "class" / "duplicate.zip", [("lora_lab/matmul.py", b"x = 1\n"), ("lora_lab/matmul.py", b"x = 2\n")])
    gradebook = tmp_path / "grades.csv"
    summary = grade_all(course, assignment, tmp_path / "class", gradebook, jobs=1, parts=["matmul"], log=lambda line: None)
    rows = {row["submission"]: row for row in read_gradebook(gradebook)}
    assert set(rows) == {"honest", "huge_integer", "duplicate"} and set(summary.graded) == set(rows)
    assert rows["honest"]["total"] == rows["honest"]["max_score"] != "" and not rows["honest"]["error"]
    assert not rows["huge_integer"]["error"] and 0 < float(rows["huge_integer"]["total"]) < float(rows["honest"]["total"])
    assert "not a valid .zip" in rows["duplicate"]["error"]
    kinds = {name: (read_results(results_folder(gradebook) / f"{name}.json")["extra_data"]).get("error_kind")
             for name in rows}
    assert kinds == {"honest": None, "huge_integer": None, "duplicate": "submission"}


def test_a_grader_failure_outside_the_parts_still_writes_results(tmp_path, monkeypatch):
    """An exception of the grader outside any part (the reference, the provenance): ``course grade --out``
    still leaves a results.json, a grader error that grade-all retries, with the traceback for the staff."""
    from autograder.commands import cli

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom at {ROOT}/autograder/engine/grading.py")

    monkeypatch.setattr(grading, "grade", broken)
    out = tmp_path / "results.json"
    with pytest.raises(RuntimeError):
        cli.main(["--course", str(ROOT / "course.yml"), "grade", str(ROOT / "solutions" / "lora"), "--part", "matmul",
                  "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["extra_data"]["error_kind"] == "grader" and "boom" not in data["output"] + data["extra_data"]["error"]
    assert "RuntimeError: boom" in data["extra_data"]["staff"][0]


def test_a_slurm_task_cancelled_leaves_nothing_in_the_temporary_folder(tmp_path):
    """Slurm cancels a task with SIGTERM to every process of it: the task's grade wrote in its own TMPDIR,
    which the task's script removes as it ends."""
    import signal

    from autograder.commands.slurm import partial, write_script

    out, exits, private = tmp_path / "cpu" / "hal.json", tmp_path / "exit", tmp_path / "tmp"
    for folder in (out.parent, exits, private):
        folder.mkdir()
    grade = ["bash", "-c", 'mkdir "$TMPDIR/lora-submission-x" && touch "$TMPDIR/lora-submission-x/matmul.py" "$0"; '
                           'sleep 60', str(tmp_path / "started")]
    write_script(tmp_path / "cpu.sh", [grade], [out], exits, "cpu")
    task = subprocess.Popen([str(tmp_path / "cpu.sh")], start_new_session=True,
                            env={**os.environ, "SLURM_ARRAY_TASK_ID": "0", "TMPDIR": str(private)})
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(task.pid, signal.SIGTERM)   # scancel
        task.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(task.pid, signal.SIGKILL)
    assert (tmp_path / "started").exists()
    assert not list(private.iterdir()), f"the cancelled task left {sorted(p.name for p in private.iterdir())}"
    assert not out.exists()
