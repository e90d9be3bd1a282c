"""What the rehearsal harnesses (.ci/gradescope-container, .ci/no-userns) share: a measuring cgroup v1
around a whole process tree, the cgroup file system read-only, and a seccomp filter that refuses new
namespaces as Docker's default profile does.

Run as root on a machine with the cgroup v1 ``memory`` and ``cpu`` hierarchies mounted under
/sys/fs/cgroup (CI's and this project's machines). Standard library only: it runs before any virtual
environment is involved.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
# Docker's default capability set (moby's oci/caps/defaults.go): everything else is dropped.
DOCKER_CAPABILITIES = {"cap_chown", "cap_dac_override", "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid",
                       "cap_setuid", "cap_setpcap", "cap_net_bind_service", "cap_net_raw", "cap_sys_chroot",
                       "cap_mknod", "cap_audit_write", "cap_setfcap"}

# --- seccomp: refuse namespaces as Docker's default profile does --------------------------------------
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
EPERM, ENOSYS = 1, 38
# the flags of clone that make a namespace (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET)
NAMESPACE_FLAGS = 0x7E020000
# audit arch, then syscall numbers: unshare, setns, clone, clone3
ARCHES = {"x86_64": (0xC000003E, 272, 308, 56, 435), "aarch64": (0xC00000B7, 97, 268, 220, 435)}
X32_BIT = 0x40000000
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06


def _instruction(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def namespace_filter() -> bytes:
    """A classic BPF program for seccomp: ``unshare`` and ``setns`` fail with EPERM, ``clone`` with any
    namespace flag with EPERM, ``clone3`` with ENOSYS (so libc falls back to ``clone``, whose flags a
    filter can read), every call of another architecture's ABI (i386, x32) with EPERM; all else allowed."""
    machine = platform.machine()
    if machine not in ARCHES:
        raise SystemExit(f"containment: no seccomp filter for {machine}")
    arch, unshare, setns, clone, clone3 = ARCHES[machine]
    program = [
        _instruction(LD_W_ABS, 0, 0, 4),                 # seccomp_data.arch
        _instruction(JEQ_K, 1, 0, arch),
        _instruction(RET_K, 0, 0, RET_ERRNO | EPERM),
        _instruction(LD_W_ABS, 0, 0, 0),                 # seccomp_data.nr
        _instruction(JGE_K, 0, 1, X32_BIT),
        _instruction(RET_K, 0, 0, RET_ERRNO | EPERM),
        _instruction(JEQ_K, 5, 0, unshare),              # -> EPERM
        _instruction(JEQ_K, 4, 0, setns),                # -> EPERM
        _instruction(JEQ_K, 5, 0, clone3),               # -> ENOSYS
        _instruction(JEQ_K, 0, 3, clone),                # else -> ALLOW
        _instruction(LD_W_ABS, 0, 0, 16),                # clone's flags: the low word of args[0]
        _instruction(JSET_K, 0, 1, NAMESPACE_FLAGS),
        _instruction(RET_K, 0, 0, RET_ERRNO | EPERM),
        _instruction(RET_K, 0, 0, RET_ALLOW),
        _instruction(RET_K, 0, 0, RET_ERRNO | ENOSYS),
    ]
    return b"".join(program)


def refuse_namespaces(no_new_privs: bool) -> None:
    """Install :func:`namespace_filter` on this process (and everything it will exec). As root with
    ``CAP_SYS_ADMIN`` no ``no_new_privs`` is needed, as with Docker, which does not set it."""
    libc = ctypes.CDLL(None, use_errno=True)
    program = namespace_filter()
    buffer = ctypes.create_string_buffer(program, len(program))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Program(len(program) // 8, ctypes.addressof(buffer))
    if no_new_privs and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_SECCOMP): {os.strerror(error)}")


# --- the cgroup file system read-only (run inside `unshare -m`) ---------------------------------------
def cgroup_mounts() -> list[str]:
    """/sys/fs/cgroup and every mount below it, parents first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point == str(CGROUP) or point.startswith(f"{CGROUP}/"):
            points.append(point)
    return sorted(set(points), key=len)


def cgroups_read_only() -> None:
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    for point in cgroup_mounts():
        subprocess.run(["mount", "-o", "remount,bind,ro", point], check=True)


def docker_drop_list() -> str:
    """The capabilities of this process's bounding set outside Docker's default set, for ``capsh --drop``."""
    text = subprocess.run(["capsh", "--print"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in text.splitlines() if line.startswith("Bounding set ="))
    held = line.split("=", 1)[1].strip().split(",")
    return ",".join(name for name in held if name and name not in DOCKER_CAPABILITIES)


# --- the Python runtime reachable by other users, as in an image whose interpreter is world-readable
def default_shown() -> list[Path]:
    """The repository's .venv and the Python installation it was made from (pyvenv.cfg's ``home``)."""
    venv = Path(__file__).resolve().parent.parent / ".venv"
    shown = [venv]
    try:
        for line in (venv / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                shown.append(Path(value.strip()).resolve().parent)
    except OSError:
        pass
    return shown


def closed_above(path: Path) -> Path | None:
    """The highest folder above ``path`` that other users cannot enter, if any."""
    for folder in reversed(path.parents):
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def show(paths: list[Path]) -> None:
    """In this mount namespace: each folder closed to others that lies above one of ``paths`` is covered
    by a tmpfs (mode 755, root's: a fresh, empty home where it covers root's) in which those paths alone
    are bound back."""
    by_anchor: dict[Path, list[Path]] = {}
    for path in (path.resolve() for path in paths if path.exists()):
        anchor = closed_above(path)
        if anchor is not None:
            by_anchor.setdefault(anchor, []).append(path)
    for anchor, inner in by_anchor.items():
        stage = Path(tempfile.mkdtemp(prefix="no-userns-stage-"))
        for number, path in enumerate(inner):
            (stage / str(number)).mkdir()
            subprocess.run(["mount", "--rbind", str(path), str(stage / str(number))], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755,size=1m", "no-userns", str(anchor)], check=True)
        for number, path in enumerate(inner):
            path.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--move", str(stage / str(number)), str(path)], check=True)
            (stage / str(number)).rmdir()
        stage.rmdir()



# --- a cgroup v1 around the whole tree, measured from outside -----------------------------------------
def _own_path(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path.lstrip("/")
    raise SystemExit(f"containment: this process is in no cgroup v1 {controller} hierarchy")


class TreeGroup:
    """A cgroup v1 memory (and optionally cpu) group made under this process's own; ``memory_mb`` 0 means
    no limit (measure only), ``cpus`` 0 no quota."""

    def __init__(self, name: str, memory_mb: int, cpus: float) -> None:
        self.memory = CGROUP / "memory" / _own_path("memory") / name
        self.memory.mkdir()
        self.folders = [self.memory]
        if memory_mb:
            limit = str(memory_mb * 2**20)
            (self.memory / "memory.limit_in_bytes").write_text(limit)
            if (self.memory / "memory.memsw.limit_in_bytes").exists():   # no swap: memory+swap = memory
                (self.memory / "memory.memsw.limit_in_bytes").write_text(limit)
            (self.memory / "memory.swappiness").write_text("0")
        if cpus:
            cpu = CGROUP / "cpu" / _own_path("cpu") / name
            cpu.mkdir()
            self.folders.append(cpu)
            (cpu / "cpu.cfs_period_us").write_text("100000")
            (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
        self.peak_rss = 0
        self.samples = 0

    def join(self) -> None:
        """Move the calling process (a child about to exec the tree's first command) in."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def sample(self) -> None:
        """Keep the largest anonymous+shared memory seen (``total_rss`` + ``total_shmem`` of memory.stat):
        the tree's own memory, without the page cache that ``max_usage_in_bytes`` also counts."""
        try:
            stat = dict(line.split() for line in (self.memory / "memory.stat").read_text().splitlines())
            used = int(stat.get("total_rss", 0)) + int(stat.get("total_shmem", 0))
            self.peak_rss = max(self.peak_rss, used)
            self.samples += 1
        except (OSError, ValueError):
            pass

    def report(self) -> dict:
        def number(name: str) -> int:
            try:
                return int((self.memory / name).read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return -1
        oom = dict(line.split() for line in (self.memory / "memory.oom_control").read_text().splitlines())
        return {"peak_mb": round(number("memory.max_usage_in_bytes") / 2**20, 1),
                "peak_rss_mb": round(self.peak_rss / 2**20, 1),
                "limit_mb": None if number("memory.limit_in_bytes") >= 2**62 else
                round(number("memory.limit_in_bytes") / 2**20),
                "failcnt": number("memory.failcnt"), "oom_kills": int(oom.get("oom_kill", 0))}

    def close(self) -> None:
        """Kill whatever is left in the tree and remove the groups."""
        for folder in self.folders:
            for _ in range(100):
                try:
                    pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
                except (OSError, ValueError):
                    pids = []
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def run_in_group(name: str, memory_mb: int, cpus: float, argv: list[str], report: Path | None,
                 label: str, command: list[str]) -> int:
    """Run ``argv`` (a child that joins the group first) and wait, sampling its memory; write the
    measurement of ``command`` (JSON) to ``report`` and one line to stderr; return its exit status."""
    if os.geteuid() != 0:
        raise SystemExit(f"{label}: run as root (it makes cgroups and mounts)")
    group = TreeGroup(f"{name}-{os.getpid()}", memory_mb, cpus)
    started = time.monotonic()
    try:
        pid = os.fork()
        if pid == 0:
            try:
                group.join()
                os.execvp(argv[0], argv)
            except BaseException as error:  # noqa: BLE001 - the child must never return into the parent's code
                print(f"{label}: cannot start {argv[0]}: {error}", file=sys.stderr)
            finally:
                os._exit(127)
        forwarded = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
        for number in forwarded:
            signal.signal(number, lambda received, _frame: os.kill(pid, received))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            group.sample()
            time.sleep(0.2)
        code = os.waitstatus_to_exitcode(status)
        measured = {"command": command, "returncode": code, "wall_s": round(time.monotonic() - started, 1),
                    "memory_limit_mb": memory_mb or None, "cpus": cpus or None, **group.report()}
    finally:
        group.close()
    print(f"{label}: exit {code}, {measured['wall_s']} s, peak {measured['peak_mb']} MB "
          f"(max_usage_in_bytes; anonymous+shmem {measured['peak_rss_mb']} MB), "
          f"{measured['oom_kills']} killed for memory", file=sys.stderr)
    if report:
        report.write_text(json.dumps(measured, indent=1) + "\n")
    return code if code >= 0 else 128 - code
