"""A seccomp-bpf filter for the worker: the system calls no probe needs and an attack would, refused.

Applied by :mod:`.launcher` to the worker (cold or forked warm) after the namespaces, the hidden paths
and the privilege drop, just before the student's code; inherited by every process the worker starts
and never removable. Unprivileged: it needs only ``no_new_privs``, which the launcher sets anyway, so it
holds where namespaces are refused (Gradescope's container, Kubernetes' restricted pods, a login node).

Refused with ``EPERM`` (a library that tries one sees an ordinary permission error, the process is
never killed):
  * ``socket()`` of any family but ``AF_UNIX``: no TCP, UDP, raw, netlink or packet sockets, so no
    connection to 127.0.0.1 or out, whatever the network namespace;
  * ``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_getfd``: no reading of another process;
  * ``unshare``, ``setns``, ``clone`` with a namespace flag, ``mount``, ``umount2``, ``pivot_root`` and
    the new mount API: no namespace of its own to undo the walls in; ``clone3`` fails with ``ENOSYS``,
    so that the C library falls back to ``clone``, whose flags a filter can read;
  * ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring_setup``, ``open_by_handle_at``;
  * ``keyctl``, ``add_key``, ``request_key``: nothing is left in, or read from, the kernel's keyrings,
    which outlive the worker (and the grade) and are shared by every process of a uid;
  * System V IPC (``shm*``, ``sem*``, ``msg*``) and POSIX message queues (``mq_open``): no segment or
    queue outlives the worker for another submission's worker to find.
A system call of another architecture (``int 0x80`` on x86_64, the x32 numbers) is refused whole.

Why a filter of our own rather than libseccomp: Gradescope's image, and most hosts a course grades on,
have no libseccomp Python binding (``pyseccomp`` is a ctypes wrapper that needs ``libseccomp.so``, an
extra system package); the program below is sixty-odd BPF instructions, built from a table of system
call numbers for x86_64 and aarch64, with nothing to install. Standard library only: the launcher loads
this file by path.
"""

from __future__ import annotations

import ctypes
import os
import platform

PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM, ENOSYS = 1, 38
AF_UNIX = 1
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
X32_SYSCALL_BIT = 0x40000000

# system calls refused outright, by name, and their numbers on each architecture
REFUSED = ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "unshare", "setns", "mount", "umount2",
           "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "bpf",
           "perf_event_open", "userfaultfd", "io_uring_setup", "open_by_handle_at", "keyctl", "add_key",
           "request_key", "shmget", "shmat", "shmctl", "semget", "semop", "semctl", "semtimedop", "msgget", "msgsnd",
           "msgrcv", "msgctl", "mq_open")
ARCHITECTURES = {
    # AUDIT_ARCH_X86_64; numbers from arch/x86/entry/syscalls/syscall_64.tbl
    "x86_64": (0xC000003E, 317, {
        "socket": 41, "clone": 56, "clone3": 435, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "pidfd_getfd": 438, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425,
        "open_by_handle_at": 304, "keyctl": 250, "add_key": 248, "request_key": 249, "shmget": 29, "shmat": 30,
        "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69,
        "msgrcv": 70, "msgctl": 71, "mq_open": 240, "landlock_create_ruleset": 444}),
    # AUDIT_ARCH_AARCH64; the generic table, include/uapi/asm-generic/unistd.h
    "aarch64": (0xC00000B7, 277, {
        "socket": 198, "clone": 220, "clone3": 435, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "pidfd_getfd": 438, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425,
        "open_by_handle_at": 265, "keyctl": 219, "add_key": 217, "request_key": 218, "shmget": 194, "shmat": 196,
        "shmctl": 195, "semget": 190, "semop": 193, "semctl": 191, "semtimedop": 192, "msgget": 186, "msgsnd": 189,
        "msgrcv": 188, "msgctl": 187, "mq_open": 180, "landlock_create_ruleset": 444}),
}
# BPF opcodes
LD_ABS_W, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
NR, ARCH, ARG0 = 0, 4, 16   # offsets in struct seccomp_data (the low half of args[0] on little-endian)


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


def program(machine: str, refused: tuple[str, ...] = REFUSED, guard_sockets: bool = True,
            guard_clones: bool = True) -> list[tuple[int, int, int, int]]:
    """The filter for ``machine`` (``platform.machine()``) as ``(code, jt, jf, k)`` instructions:
    ``refused`` names the calls refused outright, ``guard_sockets`` refuses sockets of families other
    than ``AF_UNIX``, ``guard_clones`` ``clone`` with namespace flags (and ``clone3``, so that the C
    library falls back to ``clone``)."""
    audit_arch, _, numbers = ARCHITECTURES[machine]
    deny, allow = ("ret", SECCOMP_RET_ERRNO | EPERM), ("ret", SECCOMP_RET_ALLOW)
    code: list = [(LD_ABS_W, ARCH), (JEQ, audit_arch, 1, 0), deny, (LD_ABS_W, NR)]
    if machine == "x86_64":
        code += [(JGE, X32_SYSCALL_BIT, "deny", 0)]
    code += [(JEQ, numbers[name], "deny", 0) for name in refused]
    if guard_clones:
        code += [(JEQ, numbers["clone3"], "nosys", 0), (JEQ, numbers["clone"], "clone", 0)]
    if guard_sockets:
        code += [(JEQ, numbers["socket"], "socket", 0)]
    code += [allow, ("label", "deny"), deny, ("label", "nosys"), ("ret", SECCOMP_RET_ERRNO | ENOSYS),
             ("label", "socket"), (LD_ABS_W, ARG0), (JEQ, AF_UNIX, "allow", 0), deny,
             ("label", "clone"), (LD_ABS_W, ARG0), (JSET, NAMESPACE_FLAGS, 0, "allow"), deny,
             ("label", "allow"), allow]
    return _assemble(code)


def _assemble(code: list) -> list[tuple[int, int, int, int]]:
    """Resolve the labels of ``code`` into the relative jumps of classic BPF."""
    labels, position = {}, 0
    for item in code:
        if item[0] == "label":
            labels[item[1]] = position
        else:
            position += 1
    out: list[tuple[int, int, int, int]] = []
    for item in code:
        if item[0] == "label":
            continue
        here = len(out)
        if item[0] == "ret":
            out.append((RET, 0, 0, item[1]))
        elif item[0] == LD_ABS_W:
            out.append((LD_ABS_W, 0, 0, item[1]))
        else:
            op, k, jt, jf = item
            jump = lambda target: labels[target] - here - 1 if isinstance(target, str) else target  # noqa: E731
            out.append((op, jump(jt), jump(jf), k))
    assert all(0 <= jt < 256 and 0 <= jf < 256 for _, jt, jf, _ in out)
    return out


def install(refused: tuple[str, ...] = REFUSED, guard_sockets: bool = True, guard_clones: bool = True) -> str:
    """Install the filter (see :func:`program`) on this process (every thread of it, should it have
    several) and everything it will start; returns what holds, in a few words. Raises ``OSError`` where
    the kernel refuses (no seccomp) and ``KeyError`` on an architecture without a table."""
    machine = platform.machine()
    _, seccomp_number, _ = ARCHITECTURES[machine]
    instructions = program(machine, refused, guard_sockets, guard_clones)
    table = (SockFilter * len(instructions))(*[SockFilter(*instruction) for instruction in instructions])
    fprog = SockFprog(len(instructions), table)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"no_new_privs: {os.strerror(ctypes.get_errno())}")
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    flags = SECCOMP_FILTER_FLAG_TSYNC if threads > 1 else 0
    if libc.syscall(seccomp_number, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog)) != 0:
        raise OSError(ctypes.get_errno(), f"seccomp: {os.strerror(ctypes.get_errno())}")
    return f"{len(instructions)} instructions ({machine})"


def refuse_namespaces(also: tuple[str, ...] = ()) -> str:
    """For rehearsals and tests: refuse this process and all it starts every namespace (``unshare``,
    ``setns``, ``clone`` with namespace flags), as Docker's default profile and hosts without user
    namespaces do, and the calls named in ``also`` (``landlock_create_ruleset``: a kernel without
    Landlock). Everything else, sockets included, stays allowed."""
    return install(("unshare", "setns", *also), guard_sockets=False)
