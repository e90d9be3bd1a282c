"""A CPU rehearsal of the GPU tier: every GPU check's probes run through the real sandbox, on the CPU.

Without CUDA the GPU checks are reported as not run, so nothing else exercises their probes: the folder
they read, the sandbox that must hand it to the worker, the reference run and the judge. Here each GPU
check of course.yml is planned as `course grade` plans it, its calls are moved to ``device="cpu"`` with a
few steps, the reference solution runs them in the sandbox (``run_probes``, with the course's hidden
paths) and in the grading process, and the check's own judge must pass it. Everything but CUDA itself.

The default run uses a tiny random model saved in a cache folder of the test's own (``$LORA_COURSE_CACHE``
under the temporary folder, which the sandbox hides like the home folder); the ``slow`` run uses the real
SmolLM2-135M where the course caches it, ``~/.cache/lora-course/models/``.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from autograder.core.model import CHECKS, ProbeCall
from autograder.parts import load_course
from autograder.engine.grading import hidden_paths
from autograder.core.model import CheckResult, PlannedCheck
from autograder.engine.judge import judge_part
from autograder.engine.reference import Reference
from autograder.runtime.tiny_models import save_tiny
from autograder.sandbox import Limits, WorkerReport, run_probes
from autograder.core import models
from conftest import ROOT

GPU_CHECKS = [spec.id for part in load_course(ROOT / "course.yml").assignment().parts for spec in part.checks
              if spec.gpu]


def on_cpu(call: ProbeCall, steps: int, lr: float | None) -> ProbeCall:
    """The rehearsal of a GPU call: the same probe and inputs on the CPU, with ``steps`` training steps
    (and the learning rate ``lr``, for a tiny model that must learn visibly in those few steps)."""
    args = {**call.args, "device": "cpu"}
    if "steps" in args:
        args["steps"] = steps
    if "lr" in args and lr is not None:
        args["lr"] = lr
    return replace(call, args=args)


def rehearse(course, assignment, check_id: str, model_folder: Path, steps: int, lr: float | None,
             monkeypatch: pytest.MonkeyPatch) -> tuple[CheckResult, WorkerReport]:
    part = next(part for part in assignment.parts if any(spec.id == check_id for spec in part.checks))
    spec = next(spec for spec in part.checks if spec.id == check_id)
    monkeypatch.setattr(models, "cached_default_model", lambda: model_folder)
    calls = [on_cpu(call, steps, lr) for call in CHECKS[check_id].plan(random.Random(f"rehearsal/{check_id}"))]
    worker = run_probes(assignment.solution, assignment.package, part.module_name, calls,
                        Limits(wall_seconds=part.time_budget, memory_mb=part.memory_mb),
                        hide=hidden_paths(course, assignment))
    want = Reference(assignment.solution, assignment.package).run(part.module_name, calls)
    return judge_part([PlannedCheck(spec, calls)], worker.outcomes, want)[0], worker


@pytest.fixture
def tiny_model(tmp_path, monkeypatch) -> Path:
    """A tiny model in the model cache of a cache folder of our own, outside the worker's folder."""
    monkeypatch.setenv("LORA_COURSE_CACHE", str(tmp_path / "cache"))
    folder = models.cache_dir() / "models" / "tiny-rehearsal"
    folder.mkdir(parents=True)
    return models.share(save_tiny(folder, seed=3))   # shared as convert_gguf shares the real one


def test_every_gpu_check_of_the_course_is_rehearsed():
    assert set(GPU_CHECKS) == {"finetune/gpu_train", "service/gpu_replies"}


@pytest.mark.parametrize("check_id", GPU_CHECKS)
def test_gpu_check_rehearsal(course, assignment, tiny_model, monkeypatch, check_id):
    result, worker = rehearse(course, assignment, check_id, tiny_model, steps=10, lr=1e-2,
                              monkeypatch=monkeypatch)
    assert not worker.isolation.get("problems"), worker.isolation
    assert all(outcome.ok for outcome in worker.outcomes), (worker.outcomes, worker.output[-2000:])
    assert result.status == "passed", result.feedback


@pytest.mark.slow   # the real SmolLM2-135M, converted once into the cache (about 40 s the first time)
@pytest.mark.parametrize("check_id", GPU_CHECKS)
def test_gpu_check_rehearsal_on_the_real_model(course, assignment, monkeypatch, check_id):
    folder = models.cached_default_model()
    result, worker = rehearse(course, assignment, check_id, folder, steps=10, lr=None, monkeypatch=monkeypatch)
    assert all(outcome.ok for outcome in worker.outcomes), (worker.outcomes, worker.output[-2000:])
    assert result.status == "passed", result.feedback


READER = '''
import json, os

def relu(matrix):
    seen = {}
    for path in PATHS:
        try:
            seen[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read(100)
        except OSError as error:
            seen[path] = type(error).__name__
    try:
        open(os.path.join(PATHS[0], "config.json"), "a").write("tampered")
        seen["write"] = "written"
    except OSError as error:
        seen["write"] = type(error).__name__
    return [[json.dumps(seen)]]
'''


def test_the_worker_sees_the_model_folder_a_call_names_read_only_and_nothing_beside_it(course, assignment,
                                                                                      tiny_model, tmp_path):
    """The policy: what a call ``reads`` is handed read-only; its neighbours in the cache stay hidden."""
    neighbour = tiny_model.parent / "another-model"
    neighbour.mkdir()
    (neighbour / "secret.txt").write_text("not for the worker")
    paths = [str(tiny_model), str(tiny_model / "config.json"), str(neighbour / "secret.txt"), str(tmp_path)]
    package = tmp_path / "submission" / "lora_lab"
    package.mkdir(parents=True)
    (package / "matmul.py").write_text(READER.replace("PATHS", repr(paths)))
    call = ProbeCall("call", {"function": "relu", "args": [[[1.0]]]}, reads=(str(tiny_model),))
    report = run_probes(tmp_path / "submission", "lora_lab", "matmul", [call], Limits(wall_seconds=20, memory_mb=2048),
                        hide=hidden_paths(course, assignment))
    assert report.outcomes[0].ok, (report.outcomes[0], report.output)
    seen = json.loads(report.outcomes[0].value["result"][0][0])
    assert "config.json" in seen[paths[0]] and "model.safetensors" in seen[paths[0]]
    assert seen[paths[1]].startswith("{")
    # the cache's other folders are hidden; the test's folder, which only leads to the model, cannot even
    # be listed (Landlock grants the model's folder alone; the mount namespace's cover shows just "cache")
    assert seen[paths[2]] == "FileNotFoundError" and seen[paths[3]] == "PermissionError", seen
    assert seen["write"] in ("PermissionError", "OSError"), seen["write"]
    assert "tampered" not in (tiny_model / "config.json").read_text()
