"""Start the sandboxed worker: namespaces, hidden paths, resource limits, no privileges, then exec.

Run as ``python -I launcher.py`` by :mod:`autograder.sandbox` in a fresh, single-threaded process (which
is why this is a script and not a ``preexec_fn``), its configuration as JSON on stdin. It imports nothing
outside the standard library. What it manages to enforce is written as JSON to the pipe ``report_fd``
for the report, which is closed before the worker starts: the worker finds neither in its files, its
arguments or its descriptors (they name the hidden paths).

Where the kernel allows it (as root, or through an unprivileged user namespace) the worker gets:
  * its own mount namespace in which every hidden path (solutions, hidden checks, the rest of the
    course repository, the temporary folder, the grading user's home) is covered by an empty read-only
    tmpfs or by /dev/null; a covered folder that holds a path the worker needs (its own work folder,
    the Python runtime) shows that path alone, bound back into the empty tmpfs; ``/dev/shm`` is a fresh
    private tmpfs;
  * its own network namespace with no interface up: no network at all, not even 127.0.0.1;
  * its own PID namespace: it cannot see or signal the grader, and everything it spawned dies with it;
  * no capabilities (it cannot undo the mounts), and no way to gain privileges (no_new_privs);
  * as root, an unprivileged uid and gid of its own (chosen by the grading process, which made only the
    work folder's ``out/`` and ``scratch/`` writable to it), and no supplementary groups.
Everywhere, whatever the kernel grants besides (each recorded in the report's ``walls`` as held or not,
with the reason; none of it ever reaches the student's feedback):
  * Landlock (:mod:`.landlock`): the worker opens only the runtime, the system folders, its own folder
    and what it is handed, writes only ``out/`` and ``scratch/``, binds and connects no TCP port;
  * seccomp (:mod:`.seccomp`): no network sockets, ptrace, namespaces, mounts, keyrings or System V and
    POSIX IPC;
  * where no PID namespace holds it, a guard (:mod:`.guard`): the launcher forks before the walls, and
    the parent, a child subreaper outside them, bounds the memory of the worker's processes together
    where no cgroup does and ends every one of them with the worker;
  * limits on address space, CPU time, file size, open files, processes and core dumps.
With ``guarded`` in the configuration (the grader's preflight, :mod:`.walls`) it tries to open each of
those files as the worker would, once every wall is up, and reports which opened.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, ST_RELATIME = 1024, 2048, 1 << 21, 4096  # statvfs shares the first two
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 1, 24, 28, 38
# SECBIT_NOROOT | _LOCKED | SECBIT_NO_SETUID_FIXUP | _LOCKED | SECBIT_KEEP_CAPS_LOCKED:
# uid 0 gains no capabilities on exec, and this cannot be undone.
SECUREBITS = 0b101111
LINUX_CAPABILITY_VERSION_3 = 0x20080522

libc = ctypes.CDLL(None, use_errno=True)


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def die_with_parent(parent: int | None) -> None:
    """SIGKILL for this process when its parent ends, so that a grader killed outright (a cancelled Slurm
    task, the OOM killer) leaves no worker running on. ``parent``: the pid it must have, else it has ended
    already. The kernel forgets this on fork and on a change of uid, so each process sets it last."""
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "parent-death signal")
    if parent is not None and os.getppid() != parent:
        os._exit(128 + signal.SIGKILL)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
           f"mount {target}")


def _enter_namespaces() -> str:
    """Unshare mount, network, PID, IPC and UTS namespaces; through a user namespace when not root."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() == 0:
        _check(libc.unshare(flags), "unshare")
        return "root"
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(flags | CLONE_NEWUSER), "unshare")
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w") as handle:
        handle.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as handle:
        handle.write(f"0 {gid} 1")
    return "user namespace"


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _sibling(name: str):
    """A module of :mod:`autograder.sandbox` (``policy``, ``landlock``, ``seccomp``), loaded by path: this
    script runs alone, outside the package. What the worker is handed and what is hidden from it is
    decided in ``policy``, not here."""
    if f"grader_{name}" in sys.modules:
        return sys.modules[f"grader_{name}"]
    spec = importlib.util.spec_from_file_location(f"grader_{name}", os.path.join(os.path.dirname(__file__), f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[f"grader_{name}"] = module
    return module


def _policy():
    return _sibling("policy")


def _cover(path: str, keep: list[str], writable: list[str]) -> None:
    """Cover the folder ``path`` with an empty read-only tmpfs in which only the ``keep`` paths under it
    reappear, each bound back from the original (opened before the cover hides it), read-only unless
    ``writable``."""
    handles = [(kept, os.open(kept, os.O_PATH)) for kept in keep]
    try:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for kept, handle in handles:
            target = os.path.join(path, os.path.relpath(kept, path))
            if os.path.isdir(f"/proc/self/fd/{handle}"):
                os.makedirs(target, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                open(target, "w").close()
            _mount(f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
            if not any(_inside(folder, kept) for folder in writable):
                _read_only(target)
    finally:
        for _, handle in handles:
            os.close(handle)
    _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _read_only(target: str) -> None:
    """Remount the bind mount ``target`` read-only, keeping the flags of the mount it came from (a user
    namespace may not drop them)."""
    kept = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    relatime = MS_RELATIME if os.statvfs(target).f_flag & ST_RELATIME else 0
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept | relatime)


def _hide(paths: list[str], keep: list[str], writable: list[str]) -> list[str]:
    """Cover each path with an empty read-only tmpfs (folders) or /dev/null (files), except the ``keep``
    and ``writable`` paths: a hidden folder that holds some shows them alone (read-only unless writable),
    and a hidden path inside a kept folder is still hidden (folders are covered outermost first). ``/``
    and the kept paths themselves are never covered."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if os.path.isdir("/dev/shm"):  # shared memory of its own, not the machine's
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=1777")
    # no pseudo-terminals (the machine's devpts: every pty it has), no view of the machine's message queues
    for folder in ("/dev/pts", "/dev/mqueue"):
        if os.path.isdir(folder):
            _mount("tmpfs", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    if os.path.exists("/dev/ptmx") and not os.path.islink("/dev/ptmx"):   # (a link leads into /dev/pts)
        _mount("/dev/null", "/dev/ptmx", None, MS_BIND)
    writable = [os.path.realpath(path) for path in writable if os.path.exists(path)]
    keep = [os.path.realpath(path) for path in keep if os.path.exists(path)] + writable
    hidden, failed = [], []
    # a link is hidden where it leads; outermost first
    for path in sorted({os.path.realpath(path) for path in paths}, key=lambda p: (p.count("/"), p)):
        if path == "/" or path in keep or not os.path.exists(path):
            continue
        try:
            if os.path.isdir(path):
                inner = [kept for kept in keep if _inside(kept, path)]
                inner = [kept for kept in inner if not any(other != kept and _inside(kept, other) for other in inner)]
                if inner:
                    _cover(path, inner, writable)
                else:
                    _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
            else:
                _mount("/dev/null", path, None, MS_BIND)
        except OSError as error:
            failed.append(f"{path} ({error.strerror})")
            continue
        hidden.append(path)
    if failed:
        raise OSError(0, f"could not hide {', '.join(failed)}; hidden: {', '.join(hidden)}")
    return hidden


def _become(user: dict) -> None:
    """Take ``user``'s uid and gid (real, effective and saved), with no supplementary groups."""
    os.setgroups([])
    os.setresgid(user["gid"], user["gid"], user["gid"])
    os.setresuid(user["uid"], user["uid"], user["uid"])


def _drop_privileges(user: dict | None) -> None:
    """Empty the bounding set, lock the securebits, become ``user`` (uid, gid) when given, and clear
    every capability. The order matters: changing uid needs CAP_SETUID, which is cleared last."""
    for capability in range(64):
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)  # fails with EINVAL past the last one
    try:
        _check(libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0), "securebits")
        if user is not None:
            _become(user)
    finally:  # whatever failed above, no capability survives
        header = CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
        data = (CapData * 2)()
        _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _tasks_of(uid: int) -> int:
    """Threads owned by ``uid`` system-wide: RLIMIT_NPROC counts them all, not only ours."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return count


def _set_limits(limits: dict) -> None:
    megabyte = 1024 * 1024
    cpu = int(limits["cpu_seconds"])
    for name, soft, hard in (
        # CUDA reserves terabytes of address space it never touches, and a CUDA build of torch maps gigabytes
        # on import, so there a worker is limited on its writable private memory (RLIMIT_DATA, which PROT_NONE
        # reservations and read-only library mappings do not count).
        ("RLIMIT_DATA" if limits.get("gpu") else "RLIMIT_AS", limits["memory_mb"] * megabyte, limits["memory_mb"] * megabyte),
        ("RLIMIT_CPU", cpu, cpu + 2),
        ("RLIMIT_FSIZE", limits["file_mb"] * megabyte, limits["file_mb"] * megabyte),
        ("RLIMIT_NOFILE", limits["open_files"], limits["open_files"]),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_NPROC", limits["processes"], limits["processes"]),
    ):
        resource.setrlimit(getattr(resource, name), (soft, hard))


def _fitting(report: dict, most: int = 60 * 1024) -> dict:
    """``report`` small enough for the pipe (the grader reads it once the worker ended)."""
    while len(json.dumps(report)) > most and report["hidden"]:
        report["hidden"] = report["hidden"][: len(report["hidden"]) // 2]
    return report


def _landlock(config: dict, private_shm: bool) -> str:
    """Landlock the worker to its runtime, the system, its folder and what it is handed (see :mod:`.landlock`)."""
    landlock, policy = _sibling("landlock"), _policy()
    hidden, handed, writable = policy.worker_paths(config)
    workdir = config["writable"][0] if config.get("writable") else config["cwd"]
    writable = [os.path.join(folder, name) for folder in writable for name in ("out", "scratch")
                if os.path.isdir(os.path.join(folder, name))] or writable
    rules = landlock.rules(policy.runtime_paths(), list(config.get("hand", [])), workdir, writable,
                           excluded=[*hidden, *policy.grader_install()], private_shm=private_shm,
                           gpu=bool(config["limits"].get("gpu")))
    return landlock.restrict(rules)


def _opened(paths: list[str]) -> list[str]:
    """Those of ``paths`` this process can open for reading (files) or list (folders)."""
    opened = []
    for path in paths:
        try:
            os.close(os.open(path, os.O_RDONLY))
            opened.append(path)
        except OSError:
            continue
    return opened


def _wall(report: dict, name: str, step) -> None:
    """Raise the wall ``name`` by calling ``step()``; record it as held (with what ``step`` says) or not."""
    try:
        report["walls"][name] = {"held": True, "how": step()}
    except (OSError, KeyError, ValueError) as error:
        report["walls"][name] = {"held": False, "why": str(error) or type(error).__name__}


def _guarded(config: dict, report: dict, user: dict | None, limits: dict, bounded: bool) -> int | None:
    """Where no PID namespace holds the worker: fork; the parent stays out of the walls as the guard of
    the worker's tree (:mod:`.guard`, as the worker's uid where it gets one) and never returns; the child
    goes on to be the worker. Returns the guard's pid, or ``None`` where the kernel refused a subreaper."""
    guard = _sibling("guard")
    try:
        guard.become_subreaper()
    except OSError as error:
        report["walls"]["tree"] = {"held": False, "why": str(error)}
        return None
    limits["processes"] += 1   # the guard, of the worker's uid
    child = os.fork()
    if child:
        try:
            if user is not None:
                _become(user)
                # readable by the worker's uid, as the worker is: the grader, taking that uid, reads the maps of
                # every process of the tree (pure_python); Landlock keeps the worker from its memory
                guard.dumpable()
            die_with_parent(config.get("parent"))
            # the tree's memory where no cgroup bounds it (a GPU worker's mappings are not its memory)
            guard.guard(child, None if bounded or limits.get("gpu") else limits["memory_mb"], config["report_fd"])
        finally:
            os.kill(child, signal.SIGKILL)
            os._exit(70)
    bound = "its memory bounded by its cgroup" if bounded else (
        "no memory bound on a GPU" if limits.get("gpu") else f"{limits['memory_mb']} MB for all its processes")
    report["walls"]["tree"] = {"held": True, "how": f"a guard outside the walls ends every process of the worker "
                                                    f"with it; {bound}"}
    return os.getppid()


def enter(config: dict) -> None:
    """Everything but the last step, in this process: the cgroup, the namespaces (the caller goes on as
    the worker, pid 1 of its own PID namespace; its parent, outside, waits for it and exits as it did),
    the hidden paths, no privileges, Landlock, seccomp, the report, the limits and the working folder.
    The caller then starts the worker's code (:func:`main` execs it; :mod:`.zygote_server` runs it in
    the forked, warm interpreter). ``config["report_fd"]`` is closed before this returns.

    The report: ``walls`` (``namespaces``, ``tree``, ``uid``, ``landlock``, ``seccomp``: each ``{"held": bool,
    "how" | "why": str}``), ``staff`` (what went wrong setting them up: for course staff, never for the
    student), ``problems`` (what the student's code caused), ``hidden``, ``uid``, and with ``guarded``
    in the configuration, ``opened``: those of the guarded files the worker could open."""
    for name in ("policy", "landlock", "seccomp", "guard"):   # loaded now: once Landlock holds, their folder is closed
        _sibling(name)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the worker's stdin: nothing
    os.close(null)
    staff = []
    bounded = bool(config.get("cgroups"))
    for procs in config.get("cgroups", []):  # the whole worker tree's memory and tasks, where the grader made one
        try:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        except OSError as error:
            bounded = False
            staff.append(f"could not join the cgroup {os.path.dirname(procs)} ({error.strerror})")
    # The kernel's OOM killer takes the worker's processes first, never the grader: where no cgroup bounds
    # the tree (a container's cgroups are read-only), memory spread over many processes, each under its own
    # limit, fills the container, and at Gradescope's 768 MB it killed the grading process. Raising it
    # needs no privilege; every process the worker starts inherits it.
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError as error:
        staff.append(f"could not raise the worker's oom_score_adj ({error.strerror})")
    report: dict = {"namespaces": None, "hidden": [], "capabilities_dropped": False, "uid": os.getuid(),
                    "problems": [], "staff": staff, "walls": {}}
    user = config.get("user") if os.geteuid() == 0 else None
    limits = dict(config["limits"])
    limits["processes"] += _tasks_of(user["uid"] if user else os.getuid())
    try:
        report["namespaces"] = _enter_namespaces()
    except OSError as error:
        report["walls"]["namespaces"] = {"held": False, "why": f"the kernel refused them ({error})"}
    if report["namespaces"]:
        child = os.fork()
        if child:  # outside the new PID namespace: wait for the worker and pass on how it ended
            os.close(config["report_fd"])  # the child reports
            die_with_parent(config.get("parent"))
            # the grader stops a worker that ran out of time with SIGTERM here, so that it is still reaped
            signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
            _, status = os.waitpid(child, 0)
            os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
        try:
            report["hidden"] = _hide(*_policy().worker_paths(config))
            report["walls"]["namespaces"] = {"held": True, "how": f"{report['namespaces']}: mount, network, PID, "
                                                                  "IPC; paths hidden"}
        except OSError as error:
            report["walls"]["namespaces"] = {"held": False, "why": f"could not hide paths ({error.strerror or error})"}
    guarded_by = None
    if not report["namespaces"]:
        guarded_by = _guarded(config, report, user, limits, bounded)
    with os.fdopen(config["report_fd"], "w") as handle:  # closed before the worker starts
        try:
            if report["namespaces"] or os.geteuid() == 0:
                _drop_privileges(user)
                if guarded_by:
                    _sibling("guard").dumpable()   # its guard, of the same uid, reads its memory
                report["capabilities_dropped"] = True
                report["uid"] = os.getuid()
        except OSError as error:
            staff.append(f"could not drop privileges fully ({error})")
        own = user is not None and report["uid"] == user["uid"] and not user.get("shared")
        report["walls"]["uid"] = ({"held": True, "how": f"uid {report['uid']}, of this worker alone"} if own else
                                  {"held": False, "why": "the grader is not root: the worker runs as the grader's "
                                                         "own user" if user is None else "no uid of its own"})
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _wall(report, "landlock", lambda: _landlock(config, private_shm=bool(report["walls"]["namespaces"]["held"])))
        _wall(report, "seccomp", lambda: _sibling("seccomp").install())
        if config.get("guarded"):
            report["opened"] = _opened(list(config["guarded"]))
        for name, wall in report["walls"].items():
            if not wall["held"]:
                staff.append(f"{name}: not held ({wall['why']})")
        json.dump(_fitting(report), handle)
    # the worker's parent: the launcher outside its PID namespace (where getppid() is 0), its guard, or the grader
    die_with_parent(None if report["namespaces"] else guarded_by or config.get("parent"))
    _set_limits(limits)
    os.chdir(config["cwd"])


def main() -> None:
    config = json.loads(sys.stdin.buffer.read(1 << 20))
    enter(config)
    os.execve(config["argv"][0], config["argv"], config["env"])


if __name__ == "__main__":
    main()
