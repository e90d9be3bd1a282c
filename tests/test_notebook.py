"""The lecture notebook: it runs end to end, its release is stripped and deterministic, and it is graded.

The solution (master) notebook runs with the tiny model (``LORA_COURSE_TINY_MODEL=1``) and must not raise
anywhere, including its test cells, which run there as plain asserts. The student notebook, before any
work is done, must run to the end with every ``grader.check`` cell reporting failed tests rather than
crashing. Grading runs the notebook in the sandbox and judges the values it exports with the tests of
``autograder/parts/notebook/checks.py``, in the grading process: the reference gets full marks
(``test_grading.py`` checks the whole grade, and the release zero), a submission without the notebook
scores zero for its questions only, every name a test reads is stated in its question, and no hidden
test can be found anywhere the sandboxed notebook can read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.core.model import Outcome
from autograder.parts.notebook.checks import QUESTIONS, NotebookQuestion, free_names
from autograder.parts.notebook import MATERIAL, TINY_MODEL_ENV
from autograder.parts.notebook.assign import _assign, assign_notebook, normalise_notebook
from autograder.commands.release import build_material, build_release, drifted_files
from conftest import ROOT, scores

NOTEBOOK = "lecture.ipynb"
TIMINGS = ROOT / "benchmarks" / "results" / "notebook.json"


def execute(folder: Path, allow_errors: bool, monkeypatch) -> tuple[nbformat.NotebookNode, float]:
    """Run ``folder/lecture.ipynb`` in a fresh kernel from ``folder``, with the tiny model."""
    monkeypatch.setenv(TINY_MODEL_ENV, "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(folder / NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(folder)}})
    started = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - started


def figures(notebook: nbformat.NotebookNode) -> list[str]:
    """One line per image the notebook displayed: the titles of its plots."""
    return [" | ".join(re.findall(r'title="([^"]+)"', cell.source)) for cell in notebook.cells
            if cell.cell_type == "code" for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


def test_the_solution_notebook_runs_end_to_end_with_the_tiny_model(assignment, monkeypatch, tmp_path):
    folder = tmp_path / "solution"
    shutil.copytree(assignment.solution, folder, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    notebook, seconds = execute(folder, allow_errors=False, monkeypatch=monkeypatch)  # raises on any error
    shown = figures(notebook)
    assert len(shown) == 3, shown          # spectrum + rank-r error, trainable parameters, loss curve
    warned = [output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("name") == "stderr"]
    assert not warned, f"the notebook shows library warnings or errors to the student: {warned}"
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps({"solution_notebook_seconds": round(seconds, 1), "figures": shown}, indent=2) + "\n")
    print(f"solution notebook executed in {seconds:.1f} s; figures: {shown}")


def test_the_student_notebook_check_cells_fail_cleanly_before_any_work(assignment, monkeypatch, tmp_path):
    folder = tmp_path / "release"
    shutil.copytree(assignment.release, folder)
    notebook, _ = execute(folder, allow_errors=True, monkeypatch=monkeypatch)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    checks = [cell for cell in code if cell.source.startswith("grader.check(")]
    assert len(checks) == len(json.loads((MATERIAL / "questions.json").read_text()))
    assert not [o for o in code[0].outputs if o.output_type == "error"], "the otter init cell failed"
    for cell in checks:
        assert not [o for o in cell.outputs if o.output_type == "error"], f"{cell.source} crashed"
        shown = " ".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in cell.outputs)
        assert "Test case failed" in shown, f"{cell.source} did not report failed tests: {shown[:300]}"


def test_the_release_holds_the_stripped_notebook_and_no_hidden_test(assignment):
    release = build_release(assignment)
    student = release[NOTEBOOK].decode()
    master = json.loads((assignment.solution / NOTEBOOK).read_text())
    solution_lines, other_lines = set(), set()
    for cell in master["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            inside = (inside or line.strip() == "# BEGIN SOLUTION") and line.strip() != "# END SOLUTION"
            (solution_lines if inside else other_lines).add(line.strip())
    solution_lines -= other_lines | {"", "# BEGIN SOLUTION"}   # e.g. a `for r in r_values:` also used elsewhere
    cells = json.loads(student)["cells"]
    student_lines = {line.strip() for cell in cells for line in "".join(cell["source"]).splitlines()}
    assert len(solution_lines) > 20 and not solution_lines & student_lines
    # the hidden tests are the grader's: not in the master, the release, nor the grader's notebook material
    assert not any("hidden: true" in "".join(cell["source"]) for cell in master["cells"])
    hidden = [test.says for question in QUESTIONS.values() for test in question.tests if test.hidden]
    released = "".join(content.decode() for name, content in release.items() if name.endswith((".py", ".ipynb", ".md")))
    assert len(hidden) >= 12 and not any(says in released for says in hidden)
    assert sorted(path.relative_to(MATERIAL).as_posix() for path in MATERIAL.rglob("*") if path.is_file()) == ["questions.json"]
    graded = json.loads((MATERIAL / "questions.json").read_text())
    assert all(f"tests/{question}.py" in release for question in graded)
    assert sum("".join(cell["source"]).startswith('grader.check("') for cell in cells) == len(graded)


def question_prompts(master: dict) -> dict[str, str]:
    """Each question's prompt: the markdown cell after its ``# BEGIN QUESTION`` cell."""
    prompts, cells = {}, master["cells"]
    for index, cell in enumerate(cells):
        match = re.match(r"#\s*BEGIN QUESTION\s.*?name:\s*(\w+)", "".join(cell["source"]), re.S)
        if cell["cell_type"] == "raw" and match:
            prompts[match.group(1)] = next("".join(c["source"]) for c in cells[index + 1:] if c["cell_type"] == "markdown")
    return prompts


def unstated_names(master: dict) -> dict[str, list[str]]:
    """For each question, the names its tests read (through its exports) that its prompt does not state in
    backquotes."""
    prompts, missing = question_prompts(master), {}
    for question, spec in QUESTIONS.items():
        stated = {name for quoted in re.findall(r"`([^`]+)`", prompts.get(question, "")) for name in re.findall(r"\w+", quoted)}
        read = [name for expression in spec.exports.values() for name in free_names(expression)]
        if unstated := sorted(set(read) - stated):
            missing[question] = unstated
    return missing


def test_every_name_a_notebook_test_reads_is_stated_in_its_question(assignment):
    master = json.loads((assignment.solution / NOTEBOOK).read_text())
    assert set(QUESTIONS) == set(json.loads((MATERIAL / "questions.json").read_text())) == \
        {spec.id.split("/", 1)[1] for spec in assignment.part("notebook").checks}
    assert unstated_names(master) == {}
    # the test can fail: a question 8 that does not name the folder its tests read the saved adapter from
    old = json.loads(json.dumps(master).replace("save the adapter into `adapter_dir`", "save the adapter"))
    assert unstated_names(old) == {"q8_persona": ["adapter_dir"]}
    for question in QUESTIONS.values():    # each test says what it judges, in a sentence, without its code
        assert question.tests and all(len(test.says) > 20 and "lambda" not in test.says for test in question.tests)


def test_a_failed_notebook_test_says_what_was_wrong_and_shows_no_text_of_the_notebook():
    check = NotebookQuestion("q9_service", "calling the chat service")
    student = {"chat_reply": {"ok": True, "value": {"character": "Alice", "reply": "MARK-1 def test(): ..."}},
               "saved": {"ok": False, "error": "MARK-3 Exception: <the source of a test>"}}
    verdict = check.judge(check.plan(None), [Outcome(ok=True, value=student)], [Outcome(ok=True, value={})])
    assert verdict.fraction == 0
    assert "MARK" not in verdict.feedback and "public test failed: `chat_reply` is the JSON of Alice's reply" in verdict.feedback
    assert "`saved` (from adapter_dir) raised an error" in verdict.feedback


def test_otter_assign_is_deterministic_and_drift_is_detected(assignment, tmp_path):
    master = assignment.solution / NOTEBOOK
    first = assign_notebook(master)
    again = _assign.__wrapped__(master.name, master.read_bytes())  # a second, uncached run of otter assign
    assert first == again
    assert normalise_notebook(first.student) == first.student
    material = build_material(assignment)
    assert drifted_files(material, MATERIAL) == []
    copy = tmp_path / "material"
    shutil.copytree(MATERIAL, copy)
    (copy / "questions.json").write_text("{}\n")
    assert drifted_files(material, copy) == ["changed: questions.json"]
    release = tmp_path / "release"
    shutil.copytree(assignment.release, release)
    (release / NOTEBOOK).write_text("{}\n")
    assert drifted_files(build_release(assignment), release) == [f"changed: {NOTEBOOK}"]


def test_a_submission_without_the_notebook_scores_zero_there_only(grade_folder, reference_with):
    report = grade_folder(reference_with(), parts=["matmul", "notebook"])
    assert scores(report) == {"matmul": 10, "notebook": 0}
    notebook = report.parts[1]
    assert notebook.max_score == 16 and "has no lecture.ipynb" in notebook.notes[0]
    assert all("has no lecture.ipynb" in check.feedback for check in notebook.checks)


def test_course_grade_folds_the_notebook_questions_into_results_json(tmp_path, assignment):
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "--part", "notebook", "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text())
    assert results["score"] == results["max_score"] == 16, result.stdout
    names = [test["name"] for test in results["tests"]]
    assert names == [spec.id for spec in assignment.part("notebook").checks]
    assert all(test["tags"] == ["notebook"] and test["status"] == "passed" for test in results["tests"])
    assert results["extra_data"]["provenance"]["checks_sha256"]


GREP_CELL = r'''
import os, zipfile
# GREP-SELF-CHECK-91c: this notebook's own text, which the walk must find (the grep works)
needles = [text[::-1].encode() for text in NEEDLES] + [("GREP-SELF-" + "CHECK-91c").encode()]
found, files = {}, 0
def look(name, data):
    for needle in needles:
        if needle in data:
            found.setdefault(needle.decode()[::-1] if not needle.startswith(b"GREP") else "self", []).append(name)
import sys
# Landlock may refuse to list "/" itself: walk from every folder the notebook might reach on its own
roots = ["/", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/tmp", "/home", "/root", "/opt", "/srv", "/var",
         "/mnt", "/work", "/autograder", sys.prefix, sys.base_prefix, *sys.path, *EXTRA]
here = os.getcwd()
while here != "/":   # the work folder and every folder above it
    here = os.path.dirname(here)
    roots.append(here)
walked = set()
def walk():
    for root in roots:
        for top, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
            for name in names:
                path = os.path.realpath(os.path.join(top, name))
                if path not in walked:
                    walked.add(path)
                    yield os.path.join(top, name)
for path in walk():
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 4_000_000:
            continue
        with open(path, "rb") as handle:
            data = handle.read()
        files += 1
        look(path, data)
        if data[:2] == b"PK":
            with zipfile.ZipFile(path) as bundle:
                for member in bundle.infolist():
                    if member.file_size < 4_000_000:
                        look(path + "!" + member.filename, bundle.read(member))
    except Exception:
        pass
chat_reply = {"found": found, "files": files}
'''


@pytest.mark.slow   # reads every file the sandbox shows (about 180,000): a minute
def test_no_hidden_notebook_test_is_anywhere_the_sandboxed_notebook_can_read(course, assignment, tmp_path):
    """The notebook walks the whole tree it sees in the sandbox during a grade (zips opened) for the text of
    every hidden test, and for its own text, which it must find."""
    from autograder.engine.grading import hidden_paths
    from autograder.engine.notebook import run_notebook

    needles = [test.says[::-1] for question in QUESTIONS.values() for test in question.tests if test.hidden]
    needles.append("QUESTIONS: dict[str, Question] = {"[::-1])          # the module that holds them
    # the repository, the grader package and the solutions too, by their absolute paths (each must stay shut)
    extra = [str(ROOT), str(ROOT / "autograder"), str(assignment.solution), str(ROOT / "tests")]
    cell = GREP_CELL.replace("NEEDLES", repr(needles)).replace("*EXTRA]", f"*{extra!r}]")
    (tmp_path / NOTEBOOK).write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])))
    outcomes, notes = run_notebook(assignment.part("notebook"), tmp_path / NOTEBOOK, assignment.solution / assignment.package,
                                   assignment.package, hidden_paths(course, assignment))
    assert outcomes["q9_service"].ok, (outcomes["q9_service"], notes)
    walked = outcomes["q9_service"].value["chat_reply"]["value"]
    assert walked["files"] > 10_000 and list(walked["found"]) == ["self"], walked["found"]
    # only in its own work folder: the submitted copy and the one it runs in
    assert {path.split("/lora-notebook-", 1)[-1].split("/", 1)[-1] for path in walked["found"]["self"]} == \
        {f"submission/{NOTEBOOK}", f"scratch/notebook/{NOTEBOOK}"}, walked["found"]


@pytest.mark.slow   # two notebook runs to their end (a crash, a 30 s hang): CI runs them with `make test-slow`
@pytest.mark.parametrize("case, source, reason", [
    ("process exits", "import os\nos._exit(3)", "exited"),
    ("cell hangs", "while True:\n    pass", "time budget of 30 s"),
])
def test_a_notebook_that_ends_its_process_or_hangs_scores_zero_with_the_reason(case, source, reason, course, assignment,
                                                                                tmp_path):
    from dataclasses import replace

    from autograder.engine.grading import hidden_paths
    from autograder.engine.notebook import grade_notebook, reference_outcomes
    from conftest import make_submission

    root = make_submission(assignment.solution, tmp_path / "submission")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), root / NOTEBOOK)
    reference_outcomes(assignment.part("notebook"), assignment, hidden_paths(course, assignment))  # run once, not timed
    part = replace(assignment.part("notebook"), time_budget=30)
    started = time.monotonic()
    checks, notes = grade_notebook(part, assignment, root, hidden_paths(course, assignment), seed=1)
    assert time.monotonic() - started < 45
    assert all(check.score == 0 and check.status == "failed" for check in checks)
    assert reason in notes[0] and reason in checks[0].feedback, notes


ALICE = [{"messages": [{"role": "system", "content": "You are Alice."}, {"role": "user", "content": question},
                       {"role": "assistant", "content": answer}]}
         for question, answer in [("Who are you?", "I hardly know, sir, just at present."),
                                  ("Explain yourself!", "I can't explain myself, I'm afraid, sir.")]]


def _adapter(steps: int, lr: float = 5e-3) -> dict:
    """A few AdamW steps of the stated adapter on ALICE, as PEFT's saved tensors."""
    import torch
    from peft import get_peft_model_state_dict

    from autograder.parts.notebook import recompute

    model = recompute._fresh_adapter().train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    batch = recompute.rows(ALICE, 256)
    for step in range(steps):
        ids, labels = batch[step % len(batch)]
        model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    return {name: value.detach().clone() for name, value in get_peft_model_state_dict(model).items()}


def test_questions_8_and_9_judge_the_adapter_by_what_the_grader_computes_from_its_tensors():
    import torch

    from autograder.parts.notebook import recompute

    trained = _adapter(8)
    forged = {name: torch.zeros_like(value) if "lora_A" in name else torch.full_like(value, 1e-4)
              for name, value in trained.items()}                     # "moved" lora_B, but B A = 0
    reference = {"examples": ALICE, "max_length": 256, "adapter": trained, "trainable_params": 1, "total_params": 2}

    def q8(adapter, saved=None, claims=None):
        values = {"examples": ALICE, "max_length": 256, "adapter": adapter, "saved": saved or adapter,
                  "trainable_params": 1, "total_params": 2, **(claims or {})}
        check = NotebookQuestion("q8_persona", "a persona adapter")
        verdict = check.judge(check.plan(None), [Outcome(ok=True, value={k: {"ok": True, "value": v} for k, v in values.items()})],
                              [Outcome(ok=True, value={k: {"ok": True, "value": v} for k, v in reference.items()})])
        return 1.0 if verdict is None else verdict.fraction

    assert q8(trained) == 1.0 and q8(_adapter(8)) == 1.0             # the same training, recomputed: full marks
    assert q8(forged) == 0.25                                         # only the examples, which it typed in
    assert q8(trained, saved=forged) == 0.75                          # saved something else than it trained
    assert q8({**trained, "extra.lora_B.weight": torch.zeros(1)}) == 0.25
    name = next(iter(trained))
    with pytest.raises(recompute.BadAdapter):
        recompute.validate({**trained, name: trained[name].double()})

    messages = [{"role": "system", "content": "You are Alice."}, {"role": "user", "content": "Who are you?"}]
    reply = recompute.reply(trained, messages, 12)
    assert reply != recompute.reply(forged, messages, 12)             # the adapter decides the reply

    def q9(chat_reply, saved=trained):
        check = NotebookQuestion("q9_service", "calling the chat service")
        student = {"chat_reply": {"ok": True, "value": chat_reply}, "saved": {"ok": True, "value": saved}}
        master = {"examples": ALICE, "max_length": 256, "saved": trained}
        verdict = check.judge(check.plan(None), [Outcome(ok=True, value=student)],
                              [Outcome(ok=True, value={k: {"ok": True, "value": v} for k, v in master.items()})])
        return 1.0 if verdict is None else verdict.fraction

    assert q9({"character": "Alice", "reply": reply}) == 1.0
    assert q9({"character": "Alice", "reply": "I hardly know, sir."}) == 0.0     # a hard-coded reply
    assert q9({"character": "Caterpillar", "reply": reply}) == 0.0
    assert q9({"character": "Alice", "reply": reply}, saved=forged) == 0.0       # the reply of another adapter
    untrained = _adapter(0)                                                     # lora_B zero: the base model
    assert q9({"character": "Alice", "reply": recompute.reply(untrained, messages, 12)}, saved=untrained) == 0.0


def test_the_master_notebook_runs_once_for_what_decides_its_values(assignment, monkeypatch, tmp_path):
    """Its values are kept in the course cache under a key of the master, the reference package, the
    questions, the runner and the library versions: a later grading process reads them instead of
    running the master again; a change of what decides them runs it again."""
    from autograder.engine import notebook as engine

    monkeypatch.setenv("LORA_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engine, "_reference_cache", {})
    part = next(part for part in assignment.parts if part.notebook)
    runs = []
    real = engine.run_notebook
    monkeypatch.setattr(engine, "run_notebook", lambda *args, **kwargs: runs.append(args[1]) or real(*args, **kwargs))
    first = engine.reference_outcomes(part, assignment, [])
    assert runs == [assignment.solution / part.notebook] and all(outcome.ok for outcome in first.values())
    key = engine.reference_key(part, assignment)
    assert (tmp_path / "cache" / "notebook-reference" / f"{key}.json").is_file()
    monkeypatch.setattr(engine, "_reference_cache", {})       # a new grading process
    again = engine.reference_outcomes(part, assignment, [])
    assert len(runs) == 1 and again.keys() == first.keys()
    assert json.dumps({q: o.value for q, o in again.items()}, sort_keys=True, default=str) \
        == json.dumps({q: o.value for q, o in first.items()}, sort_keys=True, default=str)
    changed = {**engine.exports(part)}
    question = sorted(changed)[0]
    monkeypatch.setattr(engine, "exports", lambda part: {**changed, question: {**changed[question], "extra": "1"}})
    assert engine.reference_key(part, assignment) != key
