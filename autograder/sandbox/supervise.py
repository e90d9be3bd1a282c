"""Run probes on a student's module in a separate, limited process and read back plain data.

``run_probes`` copies the student's package and the probe runtime into a fresh temporary folder, starts
:mod:`autograder.sandbox.launcher` (namespaces, hidden paths, uid, Landlock, seccomp, limits, then the
worker) and collects one :class:`~autograder.core.model.Outcome` per probe. It never imports student code
and never unpickles.

A probe that crashes or hangs loses only its own check: the worker is restarted on the next check's
probes while the part's wall-time budget lasts. Student output is drained and capped so printing forever cannot fill
memory or disk.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core.model import Outcome, ProbeCall
from ..core.cleanup import remove_tree, work_folder
from ..core.resources import container_oom_kills, container_resources, oom_kills_since
from ..runtime import transport
from . import cgroup, policy, zygote
from .policy import worker_environment
from .bound import Grants
from .watch import WatchedInputs
from .zygote import ForkedProcess, Zygote, ZygoteUnavailable

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
OUTPUT_KEPT = 16 * 1024
LAUNCH_REPORT_BYTES = 60 * 1024  # less than a pipe holds: the launcher never blocks writing it
GUARD_REPORT_BYTES = 1024        # the guard's line after it (sandbox/guard.py)
# As root the worker runs as a uid and gid of its own, drawn at random from a billion ids far above any
# account's and never one a running process holds: no two workers of a host, in this grade or any other,
# share one while anything of the first (a process, a file, a kernel key) could remain.
WORKER_IDS = range(1_000_000_000, 2_000_000_000)
NOBODY = 65534
_handed_out: set[int] = set()          # the worker ids this grading process drew
SIGNALS = {9: "killed (SIGKILL): it ran out of time or memory", 24: "stopped: it used up its CPU time",
           25: "stopped: it wrote a file larger than the limit", 11: "crashed with a segmentation fault",
           6: "aborted (SIGABRT), often because memory ran out"}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker. ``wall_seconds`` is shared by all restarts of a part."""

    wall_seconds: float
    memory_mb: int
    file_mb: int = 64
    processes: int = 64
    open_files: int = 256
    disk_mb: int = 512                 # all files in its work folder's out/ and scratch/ together
    disk_files: int = 10_000
    disk_depth: int = 64               # folders below out/ or scratch/ (deeper ones would hide from the watch)
    read_mb: int = transport.MAX_RESULT_BYTES // 2**20  # all result files of a part together, as the grader reads them
    gpu: bool = False                  # a CUDA build of torch: limit writable memory, not address space


@dataclass
class WorkerReport:
    """Everything the grader learns from running a part's probes in the sandbox."""

    outcomes: list[Outcome]
    import_error: dict | None = None
    output: str = ""                   # the first OUTPUT_KEPT bytes the student's code printed
    output_bytes: int = 0
    launches: int = 0
    seconds: float = 0.0
    # from each launch until its import report was written (process start, the libraries, the student's
    # module): the file's time stamp, a worker's claim, used by benchmarks only
    startup_seconds: float = 0.0
    warm_launches: int = 0             # launches forked from a warm zygote (the others were cold)
    isolation: dict = field(default_factory=dict)


class _OutputDrain(threading.Thread):
    """Reads a worker's stdout+stderr to the end, keeping only the beginning."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.kept = bytearray()
        self.total = 0

    def run(self) -> None:
        while chunk := self.stream.read(65536):
            self.total += len(chunk)
            if len(self.kept) < OUTPUT_KEPT:
                self.kept += chunk[: OUTPUT_KEPT - len(self.kept)]


def _mapped(identifier: int, table: str) -> bool:
    """Whether ``identifier`` exists in this process's user namespace (``/proc/self/uid_map`` or ``gid_map``)."""
    try:
        lines = Path(f"/proc/self/{table}").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        inside, _, count = (int(number) for number in line.split())
        if inside <= identifier < inside + count:
            return True
    return False


def _running_uids() -> set[int]:
    """The real, effective, saved and filesystem uids of every process of this machine that we can see."""
    uids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as handle:
                    uids.update(int(uid) for line in handle if line.startswith("Uid:") for uid in line.split()[1:])
            except (OSError, ValueError):
                continue
    return uids


def worker_identity() -> int | None:
    """The uid (and gid) the worker drops to when the grader runs as root; ``None`` for any other user,
    whose worker keeps the grader's own uid (it has no privileges to drop). Each worker gets a new id
    (:data:`WORKER_IDS`, random, held by no running process), so that workers cannot write into, signal,
    or count against the process limit of each other, now or in a later grade; where the user namespace
    maps no such id (a container), they share ``nobody``."""
    if os.geteuid() != 0:
        return None
    running = _running_uids()
    for _ in range(100):
        candidate = WORKER_IDS[secrets.randbelow(len(WORKER_IDS))]
        if candidate in running or candidate in _handed_out:
            continue
        if _mapped(candidate, "uid_map") and _mapped(candidate, "gid_map"):
            _handed_out.add(candidate)
            return candidate
        break
    return NOBODY if _mapped(NOBODY, "uid_map") and _mapped(NOBODY, "gid_map") else None


def leftover_workers() -> list[int]:
    """Processes still running under one of the worker ids this grading process handed out (as root):
    after a grade there must be none, whatever the student's code started."""
    if os.geteuid() != 0:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in _handed_out and not _dead(entry):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _dead(entry: Path) -> bool:
    """A zombie: killed, its pid kept only until its parent (outside the grader's reach when the worker
    reparented it, such as the host's init) reaps it."""
    stat = (entry / "stat").read_text()
    return stat[stat.rindex(")") + 2:].startswith("Z")


def _prepare(workdir: Path, submission: Path, package: str, worker: int | None) -> None:
    """Lay out the work folder. For a worker with an id of its own: the folder is readable by its group
    only, the submission and runtime copies belong to root, and only ``out/`` and ``scratch/`` are its."""
    shutil.copytree(submission / package, workdir / "submission" / package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    copy_worker_code(workdir / "runtime" / policy.WORKER_PACKAGE)
    _writable(workdir, worker)
    _hand_over(workdir, worker, ("submission", "runtime"))


def copy_worker_code(package: Path) -> list[Path]:
    """Write the worker's package (:func:`.policy.worker_code`: the runtime and the parts' probes) into
    ``package``, with empty ``__init__.py`` files; returns every file written."""
    written = []
    for relative, source in policy.worker_code().items():
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        for folder in [target.parent, *target.parent.relative_to(package).parents]:
            init = package / folder / "__init__.py"
            if not init.exists():
                init.write_text("")
                written.append(init)
        shutil.copyfile(source, target)
        written.append(target)
    return sorted(set(written))


def _hand_over(workdir: Path, worker: int | None, readable: tuple[str, ...]) -> None:
    """For a worker with an id of its own: ``readable`` (root's) open to reading, the folder to its group."""
    if worker is None:
        return
    for folder in readable:
        for path in [workdir / folder, *(workdir / folder).rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
    os.chown(workdir, 0, worker)
    workdir.chmod(0o750)


def _writable(workdir: Path, worker: int | None, fresh: bool = False) -> list[str]:
    """Create the worker's ``out/`` and ``scratch/`` (``fresh``: an empty ``out/`` again, whatever files,
    folders or links the last launch left in it), owned by the worker when it has an id of its own.
    Returns what could not be removed of the last ``out/`` (moved aside, so it is never read again)."""
    left = remove_tree(workdir / "out") if fresh else []
    if left:
        os.rename(workdir / "out", workdir / f"out-left-{time.monotonic_ns()}")
    for name in ("out",) if fresh else ("out", "scratch"):
        (workdir / name).mkdir()
        if worker is not None:
            os.chown(workdir / name, worker, worker)
            (workdir / name).chmod(0o700)
    return [f"could not remove all the worker left in out/: {', '.join(left[:3])}"] if left else []


def _launch(workdir: Path, limits: Limits, cpu_seconds: float, hide: list[Path], worker: int | None,
            code: str | None = None, env: dict[str, str] | None = None,
            handed: list[str] = (), warm: Zygote | None = None, guarded: list[str] = ()) -> subprocess.Popen | ForkedProcess:
    """Start ``code`` (by default the probe worker) in the sandbox, with ``env`` added to its environment
    (no network interface, not even 127.0.0.1); what it sees is :mod:`.policy`'s: ``hide`` and the usual hidden folders, ``handed`` read-only. With ``warm``, forked
    by that zygote (the same steps, libraries already imported); cold when it cannot be reached."""
    runtime = workdir / "runtime"
    code = code or (f"import sys; sys.path.insert(0, {str(runtime)!r}); from pathlib import Path; "
                    f"from {policy.WORKER_PACKAGE}.runtime.worker import main; main(Path({str(workdir)!r}))")
    config = {
        "workdir": str(workdir),
        "cwd": str(workdir / "scratch"),
        # -W: the libraries' own deprecation notices are not the student's output
        "argv": [sys.executable, "-I", "-W", "ignore::FutureWarning", "-W", "ignore::DeprecationWarning", "-c", code],
        "env": {**worker_environment(workdir / "scratch"), **(env or {})},
        **policy.launch_paths(hide, list(handed), workdir),
        "user": None if worker is None else {"uid": worker, "gid": worker, "shared": worker == NOBODY},
        "limits": {"memory_mb": limits.memory_mb, "cpu_seconds": max(1, int(cpu_seconds + 0.999)),
                   "file_mb": limits.file_mb, "processes": limits.processes, "open_files": limits.open_files,
                   "gpu": limits.gpu},
    }
    # The configuration goes through a pipe and the launcher's report comes back through another: neither
    # is a file or an argument the worker could read (they name the hidden paths, the repository among them).
    report_read, report_write = os.pipe()
    config["report_fd"] = report_write
    config["parent"] = os.getpid()   # the launcher dies with the grader (a zygote names itself instead)
    if guarded:
        config["guarded"] = list(guarded)
    group = cgroup.create(limits.memory_mb, limits.processes)
    config["cgroups"] = group.procs if isinstance(group, cgroup.WorkerGroup) else []
    oom_kills = {} if isinstance(group, cgroup.WorkerGroup) else container_oom_kills()
    if warm is not None:
        try:
            process = warm.launch(config)
        except ZygoteUnavailable:
            pass
        else:
            os.close(report_write)
            process.launch_report = report_read  # type: ignore[attr-defined]
            process.cgroup = group  # type: ignore[attr-defined]
            process.oom_kills = oom_kills  # type: ignore[attr-defined]
            return process
    try:
        process = subprocess.Popen([sys.executable, "-I", str(LAUNCHER)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=workdir, pass_fds=(report_write,))
    finally:
        os.close(report_write)
    process.launch_report = report_read  # type: ignore[attr-defined]
    process.cgroup = group  # type: ignore[attr-defined]
    process.oom_kills = oom_kills  # type: ignore[attr-defined]
    try:
        process.stdin.write(json.dumps(config).encode())
        process.stdin.close()
    except OSError:
        pass
    return process


def launch_report(process: subprocess.Popen) -> dict:
    """What the launcher of the ended ``process`` enforced (namespaces, hidden paths, uid, problems)."""
    handle = process.launch_report  # type: ignore[attr-defined]
    report, guarded = None, None
    try:
        os.set_blocking(handle, False)
        data = os.read(handle, LAUNCH_REPORT_BYTES + GUARD_REPORT_BYTES + 1)
    except OSError:
        data = b""
    finally:
        os.close(handle)
    # the launcher's report (before the worker started), then the line of the worker's guard (when it ended)
    for line in data.split(b"\n")[:2] if len(data) <= LAUNCH_REPORT_BYTES + GUARD_REPORT_BYTES else []:
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict) and isinstance(found.get("guard"), dict):
            guarded = found["guard"]
        elif isinstance(found, dict) and report is None:
            report = found
    if not isinstance(report, dict) or not isinstance(report.get("problems"), list):
        report = {"problems": [], "staff": ["the launcher did not report"], "walls": {}}
    if guarded is not None:
        report["tree"] = guarded
    if guarded is not None and guarded.get("over") is True:
        report["problems"].append(f"the processes of your code together passed {guarded.get('memory_mb')} MB, the "
                                  "memory limit of the whole worker tree; the grader stopped them")
    group = process.cgroup  # type: ignore[attr-defined]
    if isinstance(group, cgroup.WorkerGroup):
        report["limits"] = group.describe()
        if killed := group.oom_kills():
            report["problems"].append(f"the processes of your code together passed {group.memory_mb} MB, the "
                                      f"memory limit of the whole worker tree; the kernel stopped {killed}")
        report["problems"] += group.close()
    else:
        report["limits"] = group
        # no cgroup of its own (a container's are read-only): the container's own count of kills for memory
        if killed := oom_kills_since(getattr(process, "oom_kills", {})):
            memory = container_resources().memory_mb
            report["problems"].append("the processes of your code together passed the memory limit of the whole "
                                      f"worker tree; the kernel stopped {killed}" + (
                                          f" (this grader's container has {memory} MB in all: course staff can raise "
                                          "it in the autograder's settings)" if memory else ""))
    return report


def _read_outcome(stem: Path, budget: transport.Budget | None = None) -> Outcome | None:
    """The outcome the worker left at ``stem``, within what is left of the part's ``budget``."""
    if not os.path.lexists(stem.with_suffix(".json")):  # a link is read, and refused, by the transport
        return None
    try:
        data = transport.read(stem, budget=budget)
    except (transport.TransportError, OSError) as error:
        return Outcome(ok=False, missing=f"the grader could not read the result ({error})")
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return Outcome(ok=False, missing="the grader could not read the result (malformed data)")
    if data["ok"]:
        return Outcome(ok=True, value=data.get("value"))
    error = data.get("error")
    if not isinstance(error, dict):
        return Outcome(ok=False, missing="the grader could not read the error (malformed data)")
    return Outcome(ok=False, error={key: str(error.get(key, "")) for key in ("type", "message", "where")})


def _written_after(path: Path, since: float) -> float:
    """Seconds from ``since`` (a ``time.time()``) until ``path`` was last written, 0 when it is missing."""
    try:
        return max(0.0, os.stat(path, follow_symlinks=False).st_mtime - since)
    except OSError:
        return 0.0


def _disk_used(workdir: Path, limits: Limits) -> bool:
    """Whether the worker's writable folders hold more than ``limits`` allow (bytes, files, or folders
    deeper than ``limits.disk_depth`` or closed to the grader, which would hide what lies below them).
    RLIMIT_FSIZE bounds each file, not how many it writes, so the grader watches the total while the
    worker runs."""
    budget, files = limits.disk_mb * 1024 * 1024, 0
    folders = [(workdir / "out", 0), (workdir / "scratch", 0)]
    while folders:
        folder, depth = folders.pop()
        if depth > limits.disk_depth:
            return True
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        except OSError:
            return depth > 0  # a folder it closed or buried past PATH_MAX
        for entry in entries:
            files += 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append((Path(entry.path), depth + 1))
                else:
                    budget -= entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
            if budget < 0 or files > limits.disk_files:
                return True
    return False


def _wait(process: subprocess.Popen, seconds: float, workdir: Path, limits: Limits,
          tick: Callable[[int], None] | None = None) -> str | None:
    """Wait for the worker: ``None`` when it ended, ``"time"`` or ``"disk"`` when it had to be stopped;
    ``tick(launcher pid)`` runs every half second meanwhile (the grants of bounded calls)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            process.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
            return None
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                return "time"
            if _disk_used(workdir, limits):
                return "disk"
            if tick is not None:
                tick(process.pid)


def kill_every_process_of(worker: int | None) -> None:
    """Kill every process of ``worker``'s uid, when it is a uid of its own (as root): what the worker
    started and escaped its session with (``setsid``, double forks), which no PID namespace or cgroup
    takes with it where the kernel grants neither (Gradescope's container). A child of the grader takes
    that uid and sends ``kill(-1, SIGKILL)``: the kernel signals every process of the uid in one pass,
    so a fork bomb cannot outrun a scan of ``/proc``. Twice, for a fork that was in flight."""
    if worker is None or worker == NOBODY or os.geteuid() != 0:
        return
    for _ in range(2):
        child = os.fork()
        if child == 0:  # pragma: no cover - the child only switches uid and signals
            try:
                os.setgroups([])
                os.setgid(worker)
                os.setuid(worker)
                os.kill(-1, signal.SIGKILL)
            except BaseException:  # noqa: BLE001 - nothing may escape a forked child of the grader
                pass
            os._exit(0)
        os.waitpid(child, 0)


def _supervise(process: subprocess.Popen, seconds: float, workdir: Path, limits: Limits,
               tick: Callable[[int], None] | None = None,
               worker: int | None = None) -> tuple[_OutputDrain, str | None]:
    """Drain a launched process's output until it ends, runs out of time or disk (then stop it), and kill
    everything it left behind in its session, and every process of ``worker``'s uid of its own; returns
    the output and ``None``, ``"time"`` or ``"disk"``."""
    drain = _OutputDrain(process.stdout)
    drain.start()
    stopped = None
    try:
        stopped = _wait(process, seconds, workdir, limits, tick)
        if stopped:
            process.terminate()  # the launcher kills the worker and reaps it: no zombie is left behind
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if isinstance(process, ForkedProcess):
            process.kill()  # its zygote kills what it left behind in its session
        else:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # anything it left behind in its session
            except ProcessLookupError:
                pass
        kill_every_process_of(worker)
        process.wait()
        drain.join(timeout=5)
    return drain, stopped


def _why_it_stopped(returncode: int | None, stopped: str | None, limits: Limits) -> str:
    if stopped == "disk":
        return (f"the process running your code was stopped: it wrote more than {limits.disk_mb} MB "
                f"or {limits.disk_files} files, or folders more than {limits.disk_depth} deep")
    if stopped:
        return f"your code did not finish within this part's time budget of {limits.wall_seconds:g} s (an infinite loop?)"
    signal_number = returncode - 128 if returncode and returncode > 128 else (-returncode if returncode and returncode < 0 else 0)
    if signal_number:
        reason = SIGNALS.get(signal_number, f"killed by signal {signal_number}")
        return f"the process running your code was {reason} (memory limit {limits.memory_mb} MB)"
    return f"the process running your code exited (exit code {returncode}) before it finished; do not call exit()"


def run_probes(submission: Path, package: str, module: str, calls: list[ProbeCall], limits: Limits,
               hide: list[Path], resume_at: list[int] | None = None, warm: tuple[str, ...] = ()) -> WorkerReport:
    """Run ``calls`` on ``package.module`` (or the module a call names) of the folder ``submission`` in the sandbox.

    ``hide`` lists paths the worker must not see (solutions, hidden checks, the course repository); the
    paths the calls read (``ProbeCall.reads``, a base model's folder) are handed to it read-only.
    ``resume_at[i]`` is where to restart when call ``i`` kills the worker (the first call of the next
    check; by default ``i + 1``); the calls in between are skipped. ``warm`` names libraries to have
    imported before the worker starts (:mod:`.zygote`: forked from a warm server, same sandbox); the
    time spent waiting for that server is not the part's. Always returns one outcome per call; never
    raises because of anything the student's code did.
    """
    resume_at = resume_at or list(range(1, len(calls) + 1))
    # When every call runs on ``module`` the worker imports it once up front and reports a failure once;
    # calls on other modules of the package import them when first needed.
    single = module if all(call.module in (None, module) for call in calls) else None
    outcomes: list[Outcome | None] = [None] * len(calls)
    report = WorkerReport(outcomes=[])
    started = time.monotonic()
    output = bytearray()
    start = 0
    worker = worker_identity()
    handed = policy.handed_paths([path for call in calls for path in call.reads])
    budget = transport.Budget(limits.read_mb * 2**20)
    server = zygote.for_libraries(warm)
    cleanup: list[str] = []
    with work_folder("lora-grade-", cleanup) as workdir:
        _prepare(workdir, submission, package, worker)
        inputs = WatchedInputs(calls, workdir / "inputs", workdir)  # written by the grader, read-only to the worker
        grants = Grants(calls, workdir, worker, own_uid=worker not in (None, NOBODY))
        if inputs.folders or grants.indices:
            _hand_over(workdir, worker, ("inputs",))
        inputs.start()
        probes = [{"probe": c.probe, "args": grants.args(i, inputs.args(i, c.args)), "module": c.module or module}
                  for i, c in enumerate(calls)]
        while start < len(calls):
            remaining = limits.wall_seconds - (time.monotonic() - started)
            if remaining <= 0.5:
                break
            cleanup += _writable(workdir, worker, fresh=True)  # whatever an earlier launch left there goes
            end = grants.end(start)
            transport.write(workdir / "job", {"package": package, "module": single, "start": start, "end": end,
                                              "probes": probes})
            launched = time.time()
            process = _launch(workdir, limits, remaining, hide, worker, handed=handed, warm=server)
            report.launches += 1
            if isinstance(process, ForkedProcess):   # the zygote's own start is the grader's time
                started += process.waited
                launched += process.waited
                report.warm_launches += 1
            drain, stopped = _supervise(process, remaining, workdir, limits, grants.poll, worker)
            output += drain.kept[: OUTPUT_KEPT - len(output)]
            report.output_bytes += drain.total
            isolation = launch_report(process)
            if report.launches == 1:
                report.isolation = isolation
            else:  # a later launch may hit a limit the first did not, or fail to raise a wall
                for key in ("problems", "staff"):
                    report.isolation.setdefault(key, [])
                    report.isolation[key] += [problem for problem in isolation.get(key, [])
                                              if problem not in report.isolation[key]]

            imported = _read_outcome(workdir / "out" / "import", budget)
            report.startup_seconds += _written_after(workdir / "out" / "import.json", launched)
            if imported is None or not imported.ok:
                reason = _why_it_stopped(process.returncode, stopped, limits)
                report.import_error = (imported.error if imported is not None and imported.error else
                                       {"type": "ImportError", "where": "",
                                        "message": f"importing {package}.{module} failed: {reason}"})
                break
            for index in range(start, end):
                outcomes[index] = _read_outcome(workdir / "out" / f"{index:04d}", budget)
                if outcomes[index] is None:
                    outcomes[index] = Outcome(ok=False, missing=_why_it_stopped(process.returncode, stopped, limits))
                    start = max(index + 1, resume_at[index])
                    for skipped in range(index + 1, start):
                        outcomes[skipped] = Outcome(ok=False, missing="skipped: an earlier call of this check "
                                                                      "stopped the process running your code")
                    break
            else:
                start = end
        inputs.observe(outcomes)  # what the kernel saw the worker open, whatever its code reports
        grants.observe(outcomes)  # whether, and how, the grader limited the worker before a bounded call
    if cleanup:
        report.isolation.setdefault("problems", []).extend(cleanup)
    report.seconds = time.monotonic() - started
    report.output = output.decode("utf-8", errors="replace")
    if report.import_error is not None:
        failed = Outcome(ok=False, error=report.import_error)
        report.outcomes = [outcome or failed for outcome in outcomes]
    else:
        not_run = Outcome(ok=False, missing=f"not run: this part's time budget of {limits.wall_seconds:g} s "
                                            f"was used up by earlier probes")
        report.outcomes = [outcome or not_run for outcome in outcomes]
    return report
