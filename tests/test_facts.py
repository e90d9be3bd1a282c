"""Issue 13: facts a score rests on are measured where the student's code cannot reach them, and hidden
inputs cannot be replayed (see autograder/SECURITY.md, "What each check trusts")."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import random
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.commands.audit import _reference_copy, load_exploit
from autograder.core.model import CHECKS, Fail, Outcome
from autograder.engine.grading import SECRET_FILE, course_secret, grade, submission_seed
from autograder.sandbox.watch import OpenCounter
from autograder.engine.submission import open_submission
from test_sandbox import namespaces_available

EXPLOITS = Path(__file__).resolve().parent / "exploits"
QUOTED = r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
REVEALED = re.compile(rf"(\w+)'s greedy reply to {QUOTED} should be the reply of \w+'s adapter, {QUOTED}, but")


def test_opens_are_counted_from_outside_whoever_opens_the_file(tmp_path):
    (tmp_path / "a").mkdir()
    watched = tmp_path / "a" / "weights"
    watched.write_bytes(b"x" * 100)
    counter = OpenCounter()
    counter.watch(tmp_path)
    counter.start()
    for _ in range(3):
        subprocess.run([sys.executable, "-c", f"open({str(watched)!r}).read()"], check=True)
    watched.read_bytes()
    counts = counter.stop()
    counter.close()
    assert counts == {watched: 4} and not counter.overflowed


def test_the_seed_is_keyed_with_a_secret_out_of_git_and_out_of_the_release(course, assignment, reference_with):
    secret = course_secret(course)
    path = course.root / SECRET_FILE
    assert len(secret) >= 32 and stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert subprocess.run(["git", "check-ignore", "-q", SECRET_FILE], cwd=course.root).returncode == 0
    assert not (course.root / assignment.release if not Path(assignment.release).is_absolute()
                else Path(assignment.release)).joinpath(SECRET_FILE).exists()
    with open_submission(reference_with(), assignment.package) as submission:
        seed = submission_seed(course, assignment, submission)
        assert submission_seed(course, assignment, submission) == seed   # a regrade draws the same inputs
        other = dataclasses.replace(course, root=course.root / "tests")  # another course: another secret
        try:
            assert submission_seed(other, assignment, submission) != seed
        finally:
            (other.root / SECRET_FILE).unlink(missing_ok=True)


@pytest.mark.skipif(not namespaces_available(), reason="grades in the sandbox")
@pytest.mark.parametrize("rounds", [3, pytest.param(7, marks=pytest.mark.slow)])
def test_replies_replayed_from_earlier_feedback_gain_nothing(course, assignment, tmp_path, rounds):
    """Plays the replay attack of tests/exploits/service_replay_feedback.py: grade, copy the expected
    replies the feedback shows into the data file, regrade. With a seed that ignored the data file it
    reached full marks in the 7th round (6 requests); now every round draws new inputs (3 rounds in the
    default run, 7 with ``slow``)."""
    entry = load_exploit(EXPLOITS / "service_replay_feedback.py", assignment)
    part = next(part for part in assignment.parts if part.id == "service")
    only = dataclasses.replace(part, checks=tuple(spec for spec in part.checks if spec.id == "service/greedy_replies"))
    quick = dataclasses.replace(assignment, parts=(only,))
    root = tmp_path / "submission"
    _reference_copy(assignment, root, entry)
    data, known, seeds = root / assignment.package / "replies.json", {}, []
    for _ in range(rounds):
        with open_submission(root, assignment.package) as submission:
            report = grade(course, quick, submission, parts=["service"])   # the submission's own seed
        seeds.append(report.seed)
        check = report.parts[0].checks[0]
        if check.score:
            break
        name, content, reply = REVEALED.search(check.feedback).groups()
        known[f"{name}|{ast.literal_eval(content)}"] = ast.literal_eval(reply)
        data.write_text(json.dumps(known))
    assert check.score == 0, f"replayed feedback scored {check.score} after {len(seeds)} rounds"
    assert len(set(seeds)) == len(seeds), "the data file changed but the hidden inputs did not"


def _tiny_model_folder(folder: Path) -> Path:
    from autograder.runtime.tiny_models import byte_tokenizer, tiny_llama

    tokenizer = byte_tokenizer()
    tiny_llama(3, vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_gpu_train_judges_the_exported_adapter_not_the_reported_losses(tmp_path, assignment):
    """A CPU rehearsal of finetune/gpu_train's judge on a tiny model folder: falling losses with an
    untrained adapter fail; the reference's trained adapter passes."""
    from autograder.engine.reference import Reference
    from autograder.parts.finetune.probes import _dataset, adapter_tensors, gpu_config, gpu_texts
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peft import get_peft_model

    check = CHECKS["finetune/gpu_train"]
    call = check.plan(random.Random(0))[0]
    folder = _tiny_model_folder(tmp_path / "model")
    call = dataclasses.replace(call, args={**call.args, "model_folder": str(folder)})
    tokenizer = AutoTokenizer.from_pretrained(folder)
    finetune = Reference(assignment.solution, assignment.package).module("finetune")

    def trained(steps: int) -> dict:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        dataset = _dataset(gpu_texts(call.args["texts"], call.args["max_length"]), tokenizer)
        result = finetune.train_adapter(model, tokenizer, dataset, config=gpu_config(), steps=steps, lr=1e-2,
                                        batch_size=4, seed=0)
        return {"losses": [3.0 - step / 50 for step in range(50)], "tokens_per_second": 1.0, "device": "cpu",
                "adapter": adapter_tensors(result.model)}

    reference = Outcome(ok=True, value=trained(8))
    untrained = adapter_tensors(get_peft_model(AutoModelForCausalLM.from_pretrained(folder), gpu_config()))
    with pytest.raises(Fail, match="did not learn"):
        check.judge([call], [Outcome(ok=True, value={**reference.value, "adapter": untrained})], [reference])
    assert check.judge([call], [reference], [reference]).fraction == 1.0
