"""Warm workers: forked from a zygote, sandboxed as a cold worker is, and nothing of one reaches the next."""

from __future__ import annotations

import json
from pathlib import Path

from autograder.core.model import ProbeCall
from autograder.sandbox import Limits, run_probes, zygote

# Everything a student's code can change in its interpreter or leave behind, done at import time.
POLLUTER = '''
import os, sys, threading, time, random
import torch

torch.matmul = lambda *args, **kwargs: "patched"
torch.LEAK = "from the last worker"
sys.LEAK = "from the last worker"
os.environ["LEAK"] = "from the last worker"
torch.manual_seed(1234)
random.seed(1234)
threading.Thread(target=time.sleep, args=(2,)).start()              # a thread that outlives the probes
threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
for folder in ("/dev/shm", os.environ["HOME"], os.environ["TMPDIR"]):
    with open(os.path.join(folder, "left-by-the-last-worker"), "w") as handle:
        handle.write("x")
os.open("/dev/null", os.O_RDONLY)                                     # a descriptor left open

def relu(matrix):
    return [["polluted"]]
'''

# What the next worker sees: it must be what a fresh interpreter sees.
OBSERVER = '''
import os, sys, threading, random
import torch

def relu(matrix):
    seen = {
        "torch.LEAK": hasattr(torch, "LEAK"), "sys.LEAK": hasattr(sys, "LEAK"), "env LEAK": "LEAK" in os.environ,
        "matmul": torch.matmul(torch.ones(1, 1), torch.ones(1, 1)).tolist(),
        "threads": threading.active_count(), "tasks": len(os.listdir("/proc/self/task")),
        "files": sorted(name for folder in ("/dev/shm", os.environ["HOME"], os.environ["TMPDIR"])
                        for name in os.listdir(folder) if name.startswith("left")),
        "descriptors": sorted(os.listdir("/proc/self/fd")),
        "torch seed": torch.initial_seed(), "torch draw": torch.rand(3).tolist(),
        "main": sorted(name for name in vars(sys.modules["__main__"]) if not name.startswith("__")),
        "pid": os.getpid(), "uid differs": os.getuid() != 0,
        "home is own": os.environ["HOME"].endswith("/scratch"),
        "random differs from the polluter's": random.Random(1234).random() != random.random(),
    }
    return [[__import__("json").dumps(seen, sort_keys=True)]]
'''


def run(tmp_path: Path, name: str, source: str, warm: tuple[str, ...]):
    folder = tmp_path / name
    (folder / "lora_lab").mkdir(parents=True)
    (folder / "lora_lab" / "matmul.py").write_text(source)
    return run_probes(folder, "lora_lab", "matmul", [ProbeCall("call", {"function": "relu", "args": [[[1.0]]]})],
                      Limits(wall_seconds=60, memory_mb=2048), hide=[], warm=warm)


def observed(report) -> dict:
    outcome = report.outcomes[0]
    assert outcome.ok, outcome
    return json.loads(outcome.value["result"][0][0])


def test_nothing_a_warm_worker_does_reaches_the_next_part_or_submission(tmp_path):
    """A part monkeypatches torch, sets globals and environment variables, reseeds, leaves threads,
    files and a descriptor: the next worker forked by the same zygote (the next part, or the next
    submission's) sees exactly what a cold worker sees."""
    polluted = run(tmp_path, "polluter", POLLUTER, ("torch",))
    assert polluted.warm_launches == 1 and polluted.outcomes[0].ok
    warm = observed(run(tmp_path, "observer-warm", OBSERVER, ("torch",)))
    again = observed(run(tmp_path, "observer-warm-again", OBSERVER, ("torch",)))
    cold = observed(run(tmp_path, "observer-cold", OBSERVER, ()))
    assert warm["files"] == [] and warm["matmul"] == [[1.0]] and warm["pid"] == 1
    assert not (warm["torch.LEAK"] or warm["sys.LEAK"] or warm["env LEAK"])
    assert warm["random differs from the polluter's"] and warm["home is own"]
    # as in new interpreters, torch's seed is drawn anew for each worker, never the polluter's
    assert len({warm["torch seed"], again["torch seed"], cold["torch seed"], 1234}) == 4
    assert warm["torch draw"] != again["torch draw"]
    seeded = ("torch seed", "torch draw")
    assert {key: value for key, value in warm.items() if key not in seeded} \
        == {key: value for key, value in cold.items() if key not in seeded}


def test_a_warm_worker_is_sandboxed_like_a_cold_one(tmp_path):
    """Same namespaces, hidden paths, uid, capabilities and limits: the launcher's report is the same."""
    warm = run(tmp_path, "warm", "def relu(matrix):\n    return matrix\n", ("torch",))
    cold = run(tmp_path, "cold", "def relu(matrix):\n    return matrix\n", ())
    assert warm.warm_launches == 1 and cold.warm_launches == 0
    for key in ("namespaces", "capabilities_dropped", "problems"):
        assert warm.isolation[key] == cold.isolation[key], key
    assert warm.isolation["namespaces"] and warm.isolation["capabilities_dropped"]
    assert len(warm.isolation["hidden"]) == len(cold.isolation["hidden"])


def test_a_crash_or_a_hang_in_a_warm_worker_costs_only_its_call(tmp_path):
    """The zygote reaps what it forked: a segfault is reported as one, a hang stops at the budget, and
    the next launch from the same zygote works."""
    crash = "import ctypes\ndef relu(matrix):\n    ctypes.string_at(0)\n"
    report = run(tmp_path, "crash", crash, ("torch",))
    assert not report.outcomes[0].ok and "segmentation fault" in report.outcomes[0].missing
    folder = tmp_path / "hang"
    (folder / "lora_lab").mkdir(parents=True)
    (folder / "lora_lab" / "matmul.py").write_text("def relu(matrix):\n    while True:\n        pass\n")
    hang = run_probes(folder, "lora_lab", "matmul", [ProbeCall("call", {"function": "relu", "args": [[[1.0]]]})],
                      Limits(wall_seconds=3, memory_mb=2048), hide=[], warm=("torch",))
    assert not hang.outcomes[0].ok and "time budget" in hang.outcomes[0].missing
    assert observed(run(tmp_path, "after", OBSERVER, ("torch",)))["files"] == []


def test_an_unreachable_zygote_means_a_cold_launch_not_a_lost_grade(tmp_path):
    server = zygote.for_libraries(("torch",))
    run(tmp_path, "first", "def relu(matrix):\n    return matrix\n", ("torch",))
    server.process.kill()
    server.process.wait()
    report = run(tmp_path, "second", "def relu(matrix):\n    return [[2.0]]\n", ("torch",))
    assert report.warm_launches == 0 and report.outcomes[0].value["result"] == [[2.0]]
    zygote.forget([server])
    server.close()


def test_warm_workers_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv(zygote.SWITCH_ENV, "0")
    assert run(tmp_path, "off", "def relu(matrix):\n    return matrix\n", ("torch",)).warm_launches == 0


def test_the_folders_of_killed_zygotes_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    """A grading process killed with ``kill -9`` leaves its zygote's folder in the course cache; the next
    zygote removes it once it is old and nothing listens on its socket, and leaves a live one alone."""
    import os
    import socket

    monkeypatch.setenv("LORA_COURSE_CACHE", str(tmp_path))
    base = tmp_path / "zygotes"
    dead, live = base / "dead", base / "live"
    dead.mkdir(parents=True)
    live.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(live / "socket"))
        listener.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
            gone.bind(str(dead / "socket"))      # bound, never listening: what a dead zygote leaves
        for folder in (dead, live):
            os.utime(folder, (0, 0))
        made = Path(zygote.private_folder())
        assert not dead.exists() and live.exists() and made.parent == base
