"""Rehearsals of where courses grade: Gradescope's default container and a host without user namespaces.

`.ci/gradescope-container` runs a command as Gradescope's default container would (768 MB for the whole
process tree, half a core, Docker's capabilities and namespace rule, cgroups read-only); `.ci/no-userns`
as an ordinary user whose user namespaces are refused. Both need root and the cgroup v1 memory and cpu
hierarchies (this machine, CI); elsewhere their tests are skipped. The whole grades (minutes at half a
core) and the whole exploit corpus in each are marked slow; benchmarks/gradescope.py prints the table.

Without any of that: the grader reads its container's limits (cgroup v1 and v2 files) and chooses
parts at once and warm workers from them, and `run_autograder` leaves a result naming the setting to
raise when the grader is killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.core.resources import (Resources, container_oom_kills, container_resources, oom_kills_since,
                                       whole_cores)
from autograder.engine.grading import grade_settings
from conftest import ROOT, course_cli

CI = ROOT / ".ci"
REFERENCE = ROOT / "solutions" / "lora"
STUBS = ROOT / "assignments" / "lora"


def fake_proc(tmp_path: Path, mounts: list[tuple[str, str, str, str]], groups: list[str]) -> Path:
    """A /proc/self with ``mountinfo`` (root, mount point, fstype, super options) and ``cgroup`` lines."""
    proc = tmp_path / "proc"
    proc.mkdir(parents=True)
    lines = [f"{30 + number} 23 0:{40 + number} {root} {point} rw,relatime - {fstype} {fstype} {options}"
             for number, (root, point, fstype, options) in enumerate(mounts)]
    (proc / "mountinfo").write_text("\n".join(lines) + "\n")
    (proc / "cgroup").write_text("\n".join(groups) + "\n")
    return proc


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v1_limits_of_the_own_group_and_its_ancestors(tmp_path):
    memory, cpu = tmp_path / "memory", tmp_path / "cpu,cpuacct"
    write(memory / "memory.limit_in_bytes", "9223372036854771712")
    write(memory / "docker" / "memory.limit_in_bytes", str(2 * 2**30))
    write(memory / "docker" / "abc" / "memory.limit_in_bytes", str(768 * 2**20))
    write(cpu / "cpu.cfs_quota_us", "-1")
    write(cpu / "cpu.cfs_period_us", "100000")
    write(cpu / "docker" / "abc" / "cpu.cfs_quota_us", "50000")
    write(cpu / "docker" / "abc" / "cpu.cfs_period_us", "100000")
    proc = fake_proc(tmp_path, [("/", str(memory), "cgroup", "rw,memory"), ("/", str(cpu), "cgroup", "rw,cpu,cpuacct")],
                     ["5:memory:/docker/abc", "3:cpu,cpuacct:/docker/abc", "0::/"])
    found = container_resources(proc)
    assert (found.memory_mb, found.cpus) == (768, 0.5)
    assert "docker/abc/memory.limit_in_bytes" in found.memory_source and "cpu.cfs_quota_us" in found.cpu_source
    assert whole_cores(found) == 1


def test_a_container_that_mounts_only_its_own_group_is_read_at_the_mount(tmp_path):
    # Docker without a cgroup namespace: /proc/self/cgroup names /docker/abc, the mount shows that group alone
    memory = tmp_path / "memory"
    write(memory / "memory.limit_in_bytes", str(1536 * 2**20))
    write(memory / "memory.stat", "cache 0\nhierarchical_memory_limit 1073741824")
    proc = fake_proc(tmp_path, [("/docker/abc", str(memory), "cgroup", "rw,memory")], ["4:memory:/docker/abc"])
    found = container_resources(proc)
    assert found.memory_mb == 1024 and "hierarchical_memory_limit" in found.memory_source


def test_cgroup_v2_limits_and_no_limit(tmp_path):
    unified = tmp_path / "unified"
    write(unified / "memory.max", "max")
    write(unified / "pod" / "memory.max", str(3 * 2**30))
    write(unified / "pod" / "cpu.max", "150000 100000")
    write(unified / "pod" / "grader" / "memory.max", "max")
    write(unified / "pod" / "grader" / "cpu.max", "max 100000")
    proc = fake_proc(tmp_path, [("/", str(unified), "cgroup2", "rw")], ["0::/pod/grader"])
    found = container_resources(proc)
    assert found.memory_mb == 3072 and found.cpus == min(1.5, len(os.sched_getaffinity(0)))
    bare = fake_proc(tmp_path / "bare", [], [])
    nothing = container_resources(bare)
    assert nothing.memory_mb is None and nothing.cpus == len(os.sched_getaffinity(0))
    assert "no memory limit found" in nothing.describe()


def test_the_container_s_kills_for_memory_are_counted_in_v1_and_v2(tmp_path):
    # where no cgroup of the worker's own can be made, the grader tells the student that the kernel stopped
    # their processes from the container's own count, read before and after the worker
    memory, unified = tmp_path / "memory", tmp_path / "unified"
    write(memory / "docker" / "abc" / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2")
    write(unified / "pod" / "memory.events", "low 0\nhigh 0\nmax 9\noom 3\noom_kill 3")
    proc = fake_proc(tmp_path, [("/", str(memory), "cgroup", "rw,memory"), ("/", str(unified), "cgroup2", "rw")],
                     ["5:memory:/docker/abc", "0::/pod"])
    before = container_oom_kills(proc)
    assert before == {str(memory / "docker" / "abc"): 2, str(unified / "pod"): 3}
    assert oom_kills_since(before, proc) == 0
    write(memory / "docker" / "abc" / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 7")
    assert oom_kills_since(before, proc) == 5
    assert container_oom_kills(fake_proc(tmp_path / "bare", [], [])) == {}


def test_small_memory_grades_one_part_at_a_time_with_cold_workers():
    assert grade_settings(Resources(768, 0.5)) == (1, False)
    assert grade_settings(Resources(None, 2.0)) == (2, True)
    assert grade_settings(Resources(None, 0.5)) == (1, True)
    jobs, warm = grade_settings(Resources(4096, 4.0))
    assert warm and 1 <= jobs <= 4


def run_autograder_with(tmp_path: Path, python: Path, submission: Path | None = None
                        ) -> tuple[subprocess.CompletedProcess, dict]:
    """The zip's run_autograder with ``python`` as the interpreter setup.sh installed."""
    archive = tmp_path / "autograder.zip"
    assert course_cli("build-autograder", "--out", str(archive)).returncode == 0
    root = tmp_path / "gradescope"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    if submission:
        shutil.copytree(submission / "lora_lab", root / "submission" / "lora_lab")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": str(python)}
    result = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True, env=env,
                            timeout=120)
    return result, json.loads((root / "results" / "results.json").read_text())


def test_a_grader_killed_before_it_writes_leaves_a_result_naming_the_setting_to_raise(tmp_path):
    killed = tmp_path / "python"
    killed.write_text("#!/bin/sh\nkill -9 $$\n")   # the kernel's OOM kill of the grader, before any output
    killed.chmod(0o755)
    result, data = run_autograder_with(tmp_path, killed)
    assert result.returncode == 0 and "ended with status 137" in result.stderr
    assert data["score"] == 0 and data["tests"] == [] and data["extra_data"]["error_kind"] == "grader"
    assert "stopped before it finished" in data["output"] and "raise the autograder's memory" in data["output"]


def test_a_grader_killed_while_it_grades_leaves_its_provisional_result(tmp_path):
    # the real grader, killed once it has started grading: the result it left first stays
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\n{sys.executable} \"$@\" &\nchild=$!\n"
                       f"while [ ! -s \"$AUTOGRADER_ROOT/results/results.json\" ]; do sleep 0.1; done\n"
                       f"kill -9 $child\nwait $child\n")
    wrapper.chmod(0o755)
    result, data = run_autograder_with(tmp_path, wrapper, REFERENCE)
    assert "ended with status 137" in result.stderr
    assert "stopped before it finished" in data["output"] and "(this container: " in data["output"]
    assert "/sys/fs/cgroup" not in data["output"]   # the student reads it: limits, not where they were read


# --- the harnesses (root, cgroup v1) -------------------------------------------------------------------
def harness_available() -> str | None:
    if os.geteuid() != 0:
        return "the harnesses run as root"
    if not (Path("/sys/fs/cgroup/memory/cgroup.procs").exists() and Path("/sys/fs/cgroup/cpu/cgroup.procs").exists()):
        return "no cgroup v1 memory and cpu hierarchies"
    if not shutil.which("capsh"):
        return "no capsh"
    return None


needs_harness = pytest.mark.skipif(harness_available() is not None, reason=harness_available() or "")

PROBE = """
import ctypes, json, os, socket
from autograder.core.resources import container_resources
libc = ctypes.CDLL(None, use_errno=True)
found = container_resources()
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
def refused(flag):
    return libc.unshare(flag) != 0
try:
    open("/sys/fs/cgroup/memory/cgroup.procs", "a").close(); cgroup_writable = True
except OSError:
    cgroup_writable = False
print(json.dumps({"uid": os.getuid(), "memory_mb": found.memory_mb, "cpus": found.cpus,
                  "cap_eff": status["CapEff"].strip(), "user_ns_refused": refused(0x10000000),
                  "mount_ns_refused": refused(0x00020000), "cgroup_writable": cgroup_writable}))
"""


def probe(*harness: str) -> dict:
    result = subprocess.run([*harness, "--", sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                             + PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@needs_harness
def test_the_gradescope_container_is_docker_at_gradescope_defaults(tmp_path):
    report = tmp_path / "report.json"
    seen = probe(str(CI / "gradescope-container"), "--report", str(report))
    assert seen["uid"] == 0 and seen["cap_eff"] == "00000000a80425fb"   # Docker's 14 capabilities
    assert seen["user_ns_refused"] and seen["mount_ns_refused"] and not seen["cgroup_writable"]
    assert (seen["memory_mb"], seen["cpus"]) == (768, 0.5)               # as the grader reads them
    measured = json.loads(report.read_text())
    assert measured["returncode"] == 0 and measured["limit_mb"] == 768 and 0 < measured["peak_mb"] < 768


@needs_harness
def test_no_userns_is_an_ordinary_user_refused_namespaces():
    seen = probe(str(CI / "no-userns"))
    assert seen["uid"] == 65534 and int(seen["cap_eff"], 16) == 0
    assert seen["user_ns_refused"] and seen["mount_ns_refused"] and not seen["cgroup_writable"]


# --- whole grades and the whole exploit corpus in each environment (benchmarks/gradescope.py) -----------
def rehearse(tmp_path: Path, name: str, *arguments: str) -> dict:
    out = tmp_path / f"{name}.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gradescope.py"), *arguments, "--out", str(out)],
                            capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


@needs_harness
@pytest.mark.slow
@pytest.mark.parametrize("environment", ["gradescope", "no-userns"])
def test_the_reference_scores_full_marks_the_stubs_zero_and_the_whole_corpus_gains_nothing(environment, tmp_path):
    """The reference and the stubs as `run_autograder` grades them in the environment; then every exploit
    of tests/exploits/, each with a copy of the reference graded after or beside it, in the same walls. In
    Gradescope's container the corpus runs at its memory without its CPU quota (the quota changes how
    long it takes, not what the walls let through: its 12 minutes of CPU take 25 or more at half a core)."""
    if environment == "gradescope":
        data = rehearse(tmp_path, "grades", "--env", "gradescope", "--exploits", "none")
        corpus = rehearse(tmp_path, "corpus", "--env", "gradescope-no-quota", "--exploits", "all", "--no-grades")
    else:
        data = corpus = rehearse(tmp_path, "all", "--env", environment, "--exploits", "all")
    rows = {row["submission"]: row for row in data["grades"]}
    reference, stubs = rows["reference"], rows["stubs"]
    assert reference["max_score"] and reference["score"] == reference["max_score"], (reference["score"], reference["lost"])
    assert reference["oom_kills"] == 0 and reference["returncode"] == 0, reference
    if environment == "gradescope":   # the whole tree within Gradescope's default memory
        assert reference["peak_mb"] <= 768 and reference["chosen"]["jobs"] == 1 and not reference["chosen"]["warm"]
    walls = reference["walls"]["walls"]   # the preflight's record, in the provenance
    assert walls["tree"] and walls["landlock"] and walls["seccomp"] and not walls["namespaces"], walls
    assert stubs["score"] == 0 and stubs["max_score"] == reference["max_score"], stubs
    exploits = corpus["exploits"][0]
    assert exploits["exploits"] == exploits["expected"] == len(list((ROOT / "tests" / "exploits").glob("*.py")))
    assert exploits["failed"] == {}, exploits   # nothing gained, no one harmed, each reported where the grader knows
