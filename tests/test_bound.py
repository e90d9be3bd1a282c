"""Memory limits set on a worker from outside it (autograder/sandbox/limiter.py, bound.py): every process
of the tree is limited, a child forked before the limit included, and nothing inside can undo it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.core.model import CHECKS, Fail, Outcome
from autograder.sandbox.bound import write_new
from autograder.sandbox.limiter import limit_tree

# a parent that forks a child before any limit; on "go" each tries to map 64 MB and to lift its hard limit
TREE = r'''
import json, os, resource, sys
def attempt():
    result = {}
    try:
        bytearray(64 * 1024 * 1024)
        result["allocated"] = True
    except MemoryError:
        result["allocated"] = False
    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        result["raised"] = True
    except (ValueError, OSError):
        result["raised"] = False
    return result
go_read, go_write = os.pipe()
done_read, done_write = os.pipe()
child = os.fork()
if child == 0:
    os.read(go_read, 1)
    os.write(done_write, json.dumps(attempt()).encode())
    os._exit(0)
print(json.dumps([os.getpid(), child]), flush=True)
sys.stdin.readline()
os.write(go_write, b"x")
mine, theirs = attempt(), json.loads(os.read(done_read, 4096))
os.waitpid(child, 0)
print(json.dumps([mine, theirs]), flush=True)
'''


def _can_raise_hard_limits() -> bool:
    """CAP_SYS_RESOURCE in this process (inherited by its children, unlike the worker's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


def test_the_limiter_limits_every_process_of_a_tree_from_outside():
    process = subprocess.Popen([sys.executable, "-I", "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        parent, child = json.loads(process.stdout.readline())
        limited = limit_tree(process.pid, headroom_mb=16)
        assert {parent, child} <= set(limited) and limited[parent] and limited[child]
        process.stdin.write("go\n")
        process.stdin.flush()
        mine, theirs = json.loads(process.stdout.readline())
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not mine["allocated"] and not theirs["allocated"], "64 MB fit under a 16 MB headroom"
    if not _can_raise_hard_limits():
        assert not mine["raised"] and not theirs["raised"], "a limited process lifted its own hard limit"


def test_inputs_are_never_written_through_a_file_the_worker_placed(tmp_path):
    (tmp_path / "inputs").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "inputs" / "secret.json").symlink_to(victim)
    (tmp_path / "inputs" / ".secret.safetensors.part").symlink_to(victim)
    with pytest.raises(OSError):   # a planted temporary name stops the write
        write_new(tmp_path, "secret", {"x": torch.zeros(2)}, "inputs")
    assert victim.read_text() == "keep"
    (tmp_path / "inputs" / ".secret.safetensors.part").unlink()
    write_new(tmp_path, "secret", {"x": torch.zeros(2)}, "inputs")   # a planted final name is replaced
    assert victim.read_text() == "keep" and not (tmp_path / "inputs" / "secret.json").is_symlink()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        write_new(tmp_path, "secret", {"x": torch.zeros(2)}, "linked")
    assert not list((tmp_path / "elsewhere").iterdir())


def test_the_worker_never_sees_an_input_file_before_it_is_whole(tmp_path, monkeypatch):
    """The worker polls for ``secret.json`` and reads it at once: while any byte is still being written,
    the name must not exist (CI caught the worker reading an empty ``secret.json``)."""
    from autograder.sandbox import bound

    seen, fdopen = [], os.fdopen

    class Watched:
        def __init__(self, stream):
            self.stream = stream

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.stream.__exit__(*exc)

        def write(self, data):
            seen.append(sorted(path.name for path in (tmp_path / "inputs").iterdir()))
            return self.stream.write(data)

    (tmp_path / "inputs").mkdir()
    monkeypatch.setattr(bound.os, "fdopen", lambda *args, **kwargs: Watched(fdopen(*args, **kwargs)))
    write_new(tmp_path, "secret", {"x": torch.zeros(2)}, "inputs")
    assert seen == [[".secret.safetensors.part"], [".secret.json.part", "secret.safetensors"]], seen
    assert sorted(path.name for path in (tmp_path / "inputs").iterdir()) == ["secret.json", "secret.safetensors"]


def test_no_materialise_fails_without_a_grant_the_grader_observed():
    """A right output that the worker reports, with no limit the grading process set, earns nothing."""
    check = CHECKS["lora/no_materialise"]
    calls = check.plan(random.Random(1))
    claimed = Outcome(ok=True, value={"output": torch.zeros(3, check.SIZE), "error": None})
    for observed in (None, {"grant": None}, {"grant": {"granted": False, "why": "PermissionError"}}):
        with pytest.raises(Fail, match="did not run under the grader's memory limit"):
            check.judge(calls, [Outcome(ok=True, value=claimed.value, observed=observed)], [claimed])
