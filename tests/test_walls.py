"""The walls that need no privilege (issue 26) and nothing a worker leaves for the next (issue 27.2).

Seccomp and Landlock are tested on their own (a child process applies one and tries what it refuses),
then in the real sandbox, cold and warm, where the kernel grants namespaces (this machine, as root) and
where it refuses them (:func:`without_namespaces`: the grading process under a seccomp rule against
``unshare`` and namespace ``clone`` flags, as Docker's default profile and hosts without user
namespaces have it; optionally without Landlock too).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.core.model import ProbeCall
from autograder.sandbox import Limits, landlock, policy, run_probes, seccomp
from conftest import ROOT

TESTS = Path(__file__).resolve().parent
landlock_needed = pytest.mark.skipif(landlock.abi() < 1, reason="this kernel has no Landlock")


def child(code: str, prelude: str = "", timeout: float = 120) -> dict:
    """Run ``prelude`` then ``code`` in a fresh interpreter; ``code`` leaves its findings in ``seen``."""
    script = (f"import json, os, sys, ctypes, socket\nsys.path.insert(0, {str(TESTS)!r})\nseen = {{}}\n"
              f"{prelude}\n{code}\nprint(json.dumps(seen))\n")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, cwd="/")
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout.strip().splitlines()[-1])


ATTEMPTS = '''
libc = ctypes.CDLL(None, use_errno=True)
import errno, platform
from autograder.sandbox.seccomp import ARCHITECTURES
numbers = ARCHITECTURES[platform.machine()][2]

def call(name, *args):
    result = libc.syscall(numbers[name], *args)
    return "ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")

# each refused by the filter with EPERM; without it they fail otherwise (or work) and leave nothing behind
seen["keyctl"] = call("keyctl", 0, -3, 0, 0)                         # KEYCTL_GET_KEYRING_ID of the session
seen["add_key"] = call("add_key", b"lora-no-such-type", b"lora-leak", b"x", 1, -4)   # ENODEV without the filter
seen["shmget"] = call("shmget", 0x7FFF10EA, 4096, 0o600)              # no IPC_CREAT: ENOENT without it
seen["mq_open"] = call("mq_open", b"lora-no-such-queue", 2, 0o600, None)
seen["unshare"] = call("unshare", 0x00020000)
seen["ptrace"] = call("ptrace", 3, 0, 0, 0)                           # PTRACE_PEEKUSER of no tracee: ESRCH
seen["clone3"] = call("clone3", None, 0)                              # EINVAL without it
for family in ("AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"):
    try:
        socket.socket(getattr(socket, family), socket.SOCK_DGRAM if family != "AF_PACKET" else socket.SOCK_RAW).close()
        seen[family] = "ok"
    except OSError as error:
        seen[family] = errno.errorcode.get(error.errno, "?")
socket.socket(socket.AF_UNIX).close()
import subprocess, threading, torch
seen["subprocess"] = subprocess.run(["/bin/sh", "-c", "echo fine"], capture_output=True, text=True).stdout.strip()
seen["torch"] = float((torch.ones(3, 3) @ torch.ones(3)).sum())
worker = threading.Thread(target=lambda: seen.__setitem__("thread", call("keyctl", 0, -3, 0, 0)))
worker.start(); worker.join()
'''


def test_seccomp_refuses_keyrings_network_namespaces_ptrace_and_ipc_and_python_still_runs():
    before = child(ATTEMPTS)
    assert before["keyctl"] == before["AF_INET"] == "ok"   # without the filter: the calls work, or fail otherwise
    assert "EPERM" not in (before["add_key"], before["shmget"], before["mq_open"], before["ptrace"], before["clone3"])
    seen = child(ATTEMPTS, prelude="from autograder.sandbox import seccomp\nseen['filter'] = seccomp.install()")
    for name in ("keyctl", "add_key", "shmget", "mq_open", "unshare", "ptrace", "AF_INET", "AF_INET6", "AF_NETLINK",
                 "AF_PACKET", "thread"):
        assert seen[name] == "EPERM", (name, seen)
    assert seen["clone3"] == "ENOSYS"    # so that libc falls back to clone, whose flags the filter reads
    assert seen["subprocess"] == "fine" and seen["torch"] == 9.0


def test_the_seccomp_programs_jump_only_forwards_on_both_architectures():
    for machine in seccomp.ARCHITECTURES:
        code = seccomp.program(machine)
        assert code[-1] == (seccomp.RET, 0, 0, seccomp.SECCOMP_RET_ALLOW)
        assert all(op == seccomp.RET or index + 1 + max(jt, jf) < len(code) for index, (op, jt, jf, _) in enumerate(code))


LANDLOCKED = '''
from autograder.sandbox import landlock, policy
base = BASE
work = os.path.join(base, "work")
os.environ["TMPDIR"] = os.path.join(work, "out")   # as the worker's, its own folder
rules = landlock.rules(policy.runtime_paths(), [], work, [os.path.join(work, "out")],
                       excluded=policy.grader_install() + [str(ROOT)])
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1)
seen["how"] = landlock.restrict(rules)

def attempt(key, action):
    try:
        action()
        seen[key] = "ok"
    except OSError as error:
        seen[key] = type(error).__name__

attempt("secret", lambda: open(os.path.join(base, "secret.txt")).read())
attempt("solution", lambda: open(os.path.join(str(ROOT), "solutions", "lora", "lora_lab", "linear.py")).read())
attempt("own folder", lambda: open(os.path.join(work, "job.json")).read())
attempt("write own folder", lambda: open(os.path.join(work, "new"), "w").close())
attempt("write out", lambda: open(os.path.join(work, "out", "x"), "w").close())
attempt("ptmx", lambda: open("/dev/ptmx", "rb+").close())
attempt("dev shm", lambda: open("/dev/shm/lora-leak", "w").close())
attempt("tmp", lambda: os.listdir("/tmp"))
attempt("installed grader", lambda: [open(path).read() for path in policy.grader_install() if os.path.isfile(path)])
attempt("urandom", lambda: open("/dev/urandom", "rb").read(4))
attempt("tcp", lambda: socket.create_connection(listener.getsockname(), timeout=2).close())
import torch, transformers, peft, datasets, tokenizers
seen["torch"] = float(torch.ones(2).sum())
'''


@landlock_needed
def test_landlock_keeps_a_process_to_its_runtime_and_folder(tmp_path):
    """Whatever uid it runs as: the grader's files (the repository, the installed grader's entries of
    site-packages), other folders, ptys and the machine's /dev/shm do not open; the runtime and the
    libraries do; writing only in out/; no TCP connection even to 127.0.0.1 (ABI 4)."""
    (tmp_path / "secret.txt").write_text("salt")
    (tmp_path / "work" / "out").mkdir(parents=True)
    (tmp_path / "work" / "job.json").write_text("{}")
    seen = child(LANDLOCKED.replace("BASE", repr(str(tmp_path))).replace("ROOT", repr(str(ROOT))))
    assert seen["secret"] == seen["solution"] == seen["ptmx"] == seen["dev shm"] == "PermissionError", seen
    assert seen["tmp"] == seen["write own folder"] == seen["installed grader"] == "PermissionError", seen
    assert seen["own folder"] == seen["write out"] == seen["urandom"] == "ok" and seen["torch"] == 2.0, seen
    if landlock.abi() >= 4:
        assert seen["tcp"] == "PermissionError", seen


def test_the_grader_s_own_entries_of_site_packages_are_left_out_of_the_runtime():
    """An editable install's finder and .pth and the .dist-info name the repository: Landlock allows the
    other entries of site-packages one by one, these never."""
    installed = policy.grader_install()
    assert installed, "the grader is installed in this environment"
    rules = landlock.rules(policy.runtime_paths(), [], str(TESTS), [], excluded=installed)
    for path in installed:
        assert not any(path == rule or path.startswith(rule + "/") for rule, access in rules
                       if access & landlock.READ_FILE), path
    site = Path(installed[0]).parent
    assert (str(site), landlock.READ_DIR) in rules       # listed, so imports find the other entries
    assert any(rule == str(site / "torch") for rule, _ in rules)


def without_namespaces(code: str, also: tuple[str, ...] = (), timeout: float = 300) -> dict:
    """Run ``code`` (setting ``seen``) in a grading process to which the kernel refuses namespaces (and
    the calls in ``also``: ``landlock_create_ruleset``, a kernel without Landlock)."""
    return child(code, prelude=f"from autograder.sandbox import seccomp\nseccomp.refuse_namespaces({also!r})",
                 timeout=timeout)


PREFLIGHT = '''
from autograder.engine.grading import SECRET_FILE, hidden_paths
from autograder.parts import load_course
from autograder.sandbox import walls
from pathlib import Path
course = load_course(Path(ROOT) / "course.yml")
assignment = course.assignment()
guarded = walls.guarded_files(assignment.solution, [course.root / "course.yml", course.root / SECRET_FILE])
seen.update(walls.preflight(hidden_paths(course, assignment), guarded))
seen["guarded"] = guarded
'''.replace("ROOT", repr(str(ROOT)))


def test_every_wall_holds_where_the_kernel_grants_them():
    seen = child(PREFLIGHT)
    assert seen["held"] and not seen["opened"] and seen["guarded"]
    expected = {"namespaces", "landlock", "seccomp"} | ({"uid"} if os.geteuid() == 0 else set())
    assert {name for name, wall in seen["walls"].items() if wall["held"]} >= expected, seen["walls"]


@landlock_needed
def test_without_namespaces_landlock_still_keeps_the_grader_s_files():
    seen = as_ordinary_user_without_namespaces(PREFLIGHT)
    assert not seen["walls"]["namespaces"]["held"] and "refused" in seen["walls"]["namespaces"]["why"]
    assert seen["walls"]["landlock"]["held"] and seen["walls"]["seccomp"]["held"]
    assert seen["held"] and seen["started"] and not seen["opened"], seen


@pytest.mark.skipif(os.geteuid() != 0, reason="the worker changes uid only when the grader runs as root")
def test_a_worker_that_cannot_start_python_stops_the_grade_with_the_reason():
    """As root without namespaces the worker's own uid must reach the interpreter: where it lies in a
    folder closed to other users (this machine's /root/.pyenv) every check would fail for every student;
    the preflight sees it and the grade stops with what to change."""
    seen = without_namespaces(PREFLIGHT + "\nseen['refusal'] = walls.refusal(seen)")
    if seen["started"]:
        pytest.skip("the worker's uid can run this Python here")
    assert not seen["held"] and "could not start Python" in seen["refusal"] and "every user" in seen["refusal"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can refuse itself Landlock and namespaces and still drop uid")
def test_with_no_wall_that_keeps_files_the_grade_stops_and_says_what_to_change(tmp_path):
    """No namespaces, no Landlock, and the repository readable by every uid: the worker could open the
    reference, so `course grade` runs no code and writes a results.json for course staff; with
    --allow-unsandboxed it grades and the provenance says so. Nothing of it in a check's feedback."""
    grade = '''
from autograder.commands.cli import main
seen["exit"] = main(["--course", COURSE, "grade", "--part", "matmul", "--out", OUT] + EXTRA)
seen["results"] = json.load(open(OUT))
'''
    results = {}
    for name, extra in (("stopped", []), ("allowed", ["--allow-unsandboxed"])):
        code = (grade.replace("COURSE", repr(str(ROOT / "course.yml"))).replace("OUT", repr(str(tmp_path / f"{name}.json")))
                .replace("EXTRA", repr(extra)))
        results[name] = without_namespaces(code, also=("landlock_create_ruleset",))["results"]
    stopped, allowed = results["stopped"], results["allowed"]
    assert stopped["score"] == stopped["max_score"] == 0 and stopped["tests"]
    assert all(test["output"].startswith("NOT RUN") for test in stopped["tests"])
    assert "Course staff" in stopped["output"] and "--allow-unsandboxed" in stopped["output"]
    assert stopped["extra_data"]["provenance"]["sandbox"]["held"] is False
    assert allowed["extra_data"]["provenance"]["sandbox"]["unsandboxed"] is True
    assert allowed["max_score"] > 0 and not any("namespace" in test["output"] for test in allowed["tests"])


LEAVER = '''
import ctypes, errno, json, os, platform, socket

libc = ctypes.CDLL(None, use_errno=True)
NUMBERS = {"x86_64": {"add_key": 248, "keyctl": 250, "shmget": 29, "mq_open": 240},
           "aarch64": {"add_key": 217, "keyctl": 219, "shmget": 194, "mq_open": 180}}[platform.machine()]


def call(name, *args):
    result = libc.syscall(NUMBERS[name], *args)
    return result if result >= 0 else "error " + errno.errorcode.get(ctypes.get_errno(), "?")


def relu(matrix):
    seen = {}
    if MODE == "leave":
        persistent = call("keyctl", 22, -1, -3)                      # KEYCTL_GET_PERSISTENT of its uid
        for name, keyring in (("user", -4), ("session", -3), ("persistent", persistent)):
            seen[name] = call("add_key", b"user", b"lora-leak", b"the answers", 11, keyring) \\
                if isinstance(keyring, int) else keyring
        seen["shm"] = call("shmget", 0x10ea, 4096, 0o1666)           # IPC_CREAT, readable by all
        seen["mq"] = call("mq_open", b"lora-leak", 0o100 | 2, 0o666, None)
        for path in ("/dev/shm/lora-leak", "/tmp/lora-leak", "/var/tmp/lora-leak"):
            try:
                open(path, "w").write("the answers")
                seen[path] = "written"
            except OSError as error:
                seen[path] = type(error).__name__
        ptys = []
        try:
            for _ in range(4):
                ptys.append(os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY))
            # (in a mount namespace /dev/ptmx is /dev/null: a pty master is char device 5,2)
            seen["ptys"] = sum(os.fstat(fd).st_rdev == os.makedev(5, 2) for fd in ptys)
        except OSError as error:
            seen["ptys"] = type(error).__name__
    else:
        found = []
        for keyring in (-4, -3, call("keyctl", 22, -1, -3)):
            if isinstance(keyring, int) and isinstance(call("keyctl", 10, keyring, b"user", b"lora-leak", 0), int):
                found.append(f"key in {keyring}")
        try:
            found += [line for line in open("/proc/keys") if "lora-leak" in line]
        except OSError:
            pass
        if isinstance(call("shmget", 0x10ea, 0, 0), int):
            found.append("shm segment")
        if isinstance(call("mq_open", b"lora-leak", 0, 0, None), int):
            found.append("message queue")
        for path in ("/dev/shm/lora-leak", "/tmp/lora-leak", "/var/tmp/lora-leak", "/dev/mqueue/lora-leak"):
            if os.path.exists(path):
                found.append(path)
        seen["found"] = found
    return [[json.dumps(seen)]]
'''


def leave_and_look(base: str, warm: tuple[str, ...]) -> dict:
    """Worker A (one submission) leaves state everywhere it can; worker B (another) looks for it."""
    seen = {}
    for mode in ("leave", "look"):
        folder = Path(base) / mode
        (folder / "lora_lab").mkdir(parents=True)
        (folder / "lora_lab" / "matmul.py").write_text(LEAVER.replace("MODE", repr(mode)))
        report = run_probes(folder, "lora_lab", "matmul", [ProbeCall("call", {"function": "relu", "args": [[[1.0]]]})],
                            Limits(wall_seconds=60, memory_mb=2048), hide=[], warm=warm)
        assert report.outcomes[0].ok, report.outcomes[0]
        seen[mode] = json.loads(report.outcomes[0].value["result"][0][0])
        seen[f"{mode} walls"] = report.isolation.get("walls", {})
    seen["machine"] = {"shm": [line for line in Path("/proc/sysvipc/shm").read_text().splitlines() if " 4330 " in line
                               or line.split()[:1] == ["4330"]],
                       "dev/shm": os.path.exists("/dev/shm/lora-leak"), "tmp": os.path.exists("/tmp/lora-leak"),
                       "mqueue": os.path.exists("/dev/mqueue/lora-leak")}
    return seen


def _no_leaks(seen: dict) -> None:
    left = seen["leave"]
    for name in ("user", "session", "persistent", "shm", "mq"):
        assert str(left[name]).startswith("error EPERM"), (name, left)
    assert left["ptys"] in (0, "PermissionError"), left
    assert seen["look"]["found"] == [], seen
    assert not any(seen["machine"].values()), seen["machine"]


@pytest.mark.parametrize("warm", [(), ("torch",)], ids=["cold", "warm"])
def test_nothing_a_worker_leaves_reaches_the_next_submission_s_worker(tmp_path, warm):
    """Keys (user, session and persistent keyrings), a System V segment, a POSIX queue, files in /dev/shm
    and /tmp, ptys: the worker can leave none of them, and the next worker, of another submission,
    finds none (issue 27: keys outlived the grade by days and carried answers between submissions)."""
    _no_leaks(leave_and_look(str(tmp_path), warm))


def as_ordinary_user_without_namespaces(code: str, timeout: float = 300) -> dict:
    """Run ``code`` (setting ``seen``) as a grader that is an ordinary user refused namespaces: as root,
    through the rehearsal harness ``.ci/no-userns`` (uid 65534); as any other user, under the seccomp
    rule against namespaces alone."""
    if os.geteuid() != 0:
        return without_namespaces(code, timeout=timeout)
    script = (f"import json, os, sys, ctypes, socket\nsys.path.insert(0, {str(TESTS)!r})\nseen = {{}}\n"
              f"{code}\nprint(json.dumps(seen))\n")
    ran = subprocess.run([str(ROOT / ".ci" / "no-userns"), "--show", str(ROOT), "--", sys.executable, "-c", script],
                         capture_output=True, text=True, timeout=timeout, cwd="/")
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout.strip().splitlines()[-1])


@landlock_needed
def test_nothing_is_shared_without_namespaces_either():
    """The same as an ordinary user refused namespaces (no uid of its own for the worker): Landlock and
    seccomp alone."""
    base = Path(tempfile.mkdtemp(prefix="lora-walls-test-"))   # (pytest's folder is root's alone)
    base.chmod(0o777)
    try:
        code = f"import test_walls\nseen.update(test_walls.leave_and_look({str(base)!r}, ()))"
        seen = as_ordinary_user_without_namespaces(code)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert not seen["leave walls"]["namespaces"]["held"] and seen["leave walls"]["landlock"]["held"]
    _no_leaks(seen)


@pytest.mark.skipif(os.geteuid() != 0, reason="worker uids are drawn only by a root grader")
def test_worker_uids_never_repeat_and_never_belong_to_a_running_process():
    from autograder.sandbox import supervise as sandbox

    drawn = [sandbox.worker_identity() for _ in range(300)]
    assert len(set(drawn)) == len(drawn) and all(uid in sandbox.WORKER_IDS for uid in drawn)
    assert not set(drawn) & sandbox._running_uids()


def test_the_zygote_forks_for_no_worker():
    """A worker that reached a zygote's socket (same user, named sockets are not Landlock's) would get a
    fork with a configuration of its own, walls off: the zygote refuses any peer under more seccomp
    filters than itself, as every worker is."""
    import socket as sockets
    import threading

    from autograder.sandbox import zygote_server

    listener = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    listener.bind("\0lora-walls-test-" + str(os.getpid()))
    listener.listen(2)
    verdicts = []

    def serve():
        for _ in range(2):
            connection, _ = listener.accept()
            verdicts.append(zygote_server._trusted_peer(connection))
            connection.close()

    server = threading.Thread(target=serve)
    server.start()
    connect = (f"s = socket.socket(socket.AF_UNIX); s.connect({listener.getsockname()!r}); s.recv(1)")
    child(connect)
    child(connect, prelude="from autograder.sandbox import seccomp\nseccomp.install()")
    server.join(timeout=60)
    listener.close()
    assert verdicts == [True, False]


SPREADER = '''
import os
import time


def relu(matrix):
    if os.fork() == 0:   # a daemon that leaves the worker's session and would outlive it
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["/bin/sleep", "MARKER"])
        os._exit(0)
    children = []
    for _ in range(10):   # each far under the worker's own limit, together over it
        pid = os.fork()
        if pid == 0:
            try:
                block = bytearray(120 * 1024 * 1024)
                for offset in range(0, len(block), 4096):
                    block[offset] = 1
                time.sleep(8)
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return matrix
'''


def spread_and_escape(base: str, warm: tuple[str, ...], marker: str) -> dict:
    """A worker forks a daemon out of its session and ten children of 120 MB each (768 MB for the
    worker): what the grader reported, and the processes still running the daemon's ``marker``."""
    folder = Path(base) / "spreader"
    (folder / "lora_lab").mkdir(parents=True)
    (folder / "lora_lab" / "matmul.py").write_text(SPREADER.replace("MARKER", marker))
    report = run_probes(folder, "lora_lab", "matmul", [ProbeCall("call", {"function": "relu", "args": [[[1.0]]]})],
                        Limits(wall_seconds=60, memory_mb=768), hide=[], warm=warm)
    left = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and f"/bin/sleep\0{marker}" in open(f"/proc/{entry}/cmdline").read():
                left.append(int(entry))
        except OSError:
            continue
    return {"problems": report.isolation.get("problems", []), "ok": report.outcomes[0].ok, "left": left,
            "walls": report.isolation.get("walls", {}), "tree": report.isolation.get("tree"),
            "error": report.outcomes[0].error}


@landlock_needed
@pytest.mark.parametrize("warm", [(), ("torch",)], ids=["cold", "warm"])
def test_without_namespaces_or_cgroups_the_worker_tree_is_bounded_and_ends_with_the_worker(warm):
    """An ordinary user refused namespaces, whose cgroups are not writable: no PID namespace ends the
    worker's processes with it and no cgroup bounds their memory together. A guard outside the worker's
    walls, the parent of every process it starts (a child subreaper), holds the tree to the worker's
    memory and ends it with the worker (before: the memory went unreported, and the daemon ran on)."""
    base = Path(tempfile.mkdtemp(prefix="lora-walls-test-"))
    base.chmod(0o777)
    marker = f"{3000 + os.getpid() % 1000}.{len(warm)}7"
    try:
        code = f"import test_walls\nseen.update(test_walls.spread_and_escape({str(base)!r}, {warm!r}, {marker!r}))"
        seen = as_ordinary_user_without_namespaces(code)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(["pkill", "-f", f"sleep {marker}"], check=False)
    assert not seen["walls"]["namespaces"]["held"], seen["walls"]
    assert not seen["ok"] and any("memory limit of the whole worker tree" in line for line in seen["problems"]), seen
    assert seen["left"] == [], f"the daemon outlived the worker: {seen}"


SHARER = '''
import os
import time


def relu(matrix):
    block = bytearray(400 * 1024 * 1024)   # touched once, then shared by three forked children
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    try:
        os.kill(os.getppid(), 0)   # its guard: outside its Landlock domain
        return [[1.0]]
    except PermissionError:
        return [[0.0]]
'''


def share(base: str) -> dict:
    folder = Path(base) / "sharer"
    (folder / "lora_lab").mkdir(parents=True)
    (folder / "lora_lab" / "matmul.py").write_text(SHARER)
    report = run_probes(folder, "lora_lab", "matmul", [ProbeCall("call", {"function": "relu", "args": [[[1.0]]]})],
                        Limits(wall_seconds=60, memory_mb=768), hide=[])
    return {"problems": report.isolation.get("problems", []), "ok": report.outcomes[0].ok,
            "tree": report.isolation.get("tree"), "signalled": report.outcomes[0].value["result"][0][0]}


@landlock_needed
def test_the_guard_counts_the_pages_forked_children_share_once():
    """1,600 MB resident in four processes, 400 MB of memory: a worker's DataLoader-style forks are not
    over its limit (the guard sums proportional set sizes past the limit, as a cgroup counts pages). And
    the worker cannot signal its guard where Landlock scopes signals (ABI 6 and later)."""
    base = Path(tempfile.mkdtemp(prefix="lora-walls-test-"))
    base.chmod(0o777)
    try:
        seen = as_ordinary_user_without_namespaces(f"import test_walls\nseen.update(test_walls.share({str(base)!r}))")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert seen["ok"] and not seen["problems"], seen
    assert seen["tree"]["memory_mb"] == 768 and 390 < seen["tree"]["peak_mb"] < 768, seen
    if landlock.abi() >= 6:   # signals scoped to the worker's domain: it cannot kill its guard
        assert seen["signalled"] == 0.0, seen
