"""Landlock for the worker: it may read only the Python runtime, the system and its own folder, write only
its ``out/`` and ``scratch/``, and (Landlock ABI 4 and later) bind or connect no TCP port.

Landlock (Linux 5.13 and later) is an unprivileged LSM: a process restricts itself and everything it
starts, for good, with ``no_new_privs`` as its only requirement. So it holds where the kernel refuses
namespaces (Gradescope's container, a Kubernetes pod under the restricted policy, Ubuntu's AppArmor
restriction of user namespaces) and whatever uid the worker runs as. Applied by :mod:`.launcher` after
the namespaces and the privilege drop, before the student's code, cold and warm workers alike.

What the worker may open (:func:`rules`), an allow-list; everything else, the course repository, the
grader package, the course cache, the course secret, other workers' folders, ``/tmp`` and ``/dev/shm``
of the machine, cannot be opened:
  * read and execute: the system folders (``/usr``, ``/lib*``, ``/bin``, ``/sbin``, ``/etc``), the
    Python runtime (its prefixes and the folders on its ``sys.path``), except the grader's own entries
    of ``site-packages`` (its package, its ``.dist-info``, an editable install's finder and ``.pth``,
    which name the repository): each other entry is allowed one by one, the folder itself for listing
    only, so the grader's file names show but none of them opens;
  * read: ``/proc`` and ``/sys`` (CPU counts and the process's own maps; other processes' files stay
    closed: Landlock refuses ptrace-class access to a process outside the domain), the files a probe
    is handed (a base model), the worker's own folder;
  * read and write: ``out/`` and ``scratch/``; ``/dev/null``, ``zero``, ``full``, ``random``,
    ``urandom`` (and a GPU's device files when the part runs on a GPU); ``/dev/shm`` only when the
    launcher gave the worker a private one. No ``/dev/ptmx``: no pseudo-terminal.
ABI 6 and later also scope abstract unix sockets and signals: nothing outside the worker can be
reached through either.

The raw system calls (444 ``landlock_create_ruleset``, 445 ``landlock_add_rule``, 446
``landlock_restrict_self``, the same on x86_64 and aarch64) through ctypes: standard library only, the
launcher loads this file by path.
"""

from __future__ import annotations

import ctypes
import os

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15          # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1                   # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1         # ABI 6

READ = READ_FILE | READ_DIR
RUN = READ | EXECUTE
DEVICE = READ_FILE | WRITE_FILE | IOCTL_DEV
ALL_FS = (1 << 16) - 1
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
GPU_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset", "/dev/dri")
SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc")
READ_ONLY = ("/proc", "/sys")


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The Landlock ABI this kernel offers: 0 where it has none (too old, or not among its LSMs)."""
    version = _libc.syscall(CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(0, version)


def handled_fs(version: int) -> int:
    """The file system rights an ABI ``version`` can restrict."""
    handled = ALL_FS & ~(REFER | TRUNCATE | IOCTL_DEV)
    if version >= 2:
        handled |= REFER
    if version >= 3:
        handled |= TRUNCATE
    if version >= 5:
        handled |= IOCTL_DEV
    return handled


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def allow_except(root: str, excluded: list[str], access: int) -> list[tuple[str, int]]:
    """Rules giving ``access`` to ``root`` and everything below it but the ``excluded`` paths: where an
    excluded path lies below, ``root`` itself may only be listed and each of its entries is allowed on
    its own (recursively towards the excluded path)."""
    inner = [path for path in excluded if _inside(path, root)]
    if not inner:
        return [(root, access)]
    if root in inner:
        return []
    rules = [(root, READ_DIR)]
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return rules
    for name in entries:
        path = os.path.join(root, name)
        if os.path.islink(path):   # Landlock follows it: allowed only if no excluded path lies where it leads
            real = os.path.realpath(path)
            if not any(_inside(excluded_path, real) for excluded_path in inner):
                rules += allow_except(real, inner, access)
            continue
        rules += allow_except(path, inner, access)
    return rules


def rules(runtime: list[str], handed: list[str], workdir: str, writable: list[str], excluded: list[str],
          private_shm: bool = False, gpu: bool = False) -> list[tuple[str, int]]:
    """Every ``(path, rights)`` of the worker's ruleset: ``runtime`` (the interpreter's folders) and the
    system folders readable and executable but for ``excluded`` (the grader's own files wherever they
    lie), ``handed`` and ``workdir`` readable, ``writable`` (its ``out/`` and ``scratch/``) writable."""
    excluded = [os.path.realpath(path) for path in excluded]
    found: list[tuple[str, int]] = []
    roots = sorted({os.path.realpath(path) for path in [*SYSTEM, *runtime] if os.path.exists(path)})
    # a runtime folder inside another (site-packages inside the prefix) is covered by the outer one
    for root in [root for root in roots if not any(other != root and _inside(root, other) for other in roots)]:
        found += allow_except(root, excluded, RUN)
    for path in [*READ_ONLY, *handed, workdir]:
        if os.path.exists(path):
            found += allow_except(os.path.realpath(path), excluded, READ)
    devices = [*DEVICES, *(GPU_DEVICES if gpu else ())]
    if gpu:
        devices += [f"/dev/{name}" for name in sorted(os.listdir("/dev")) if name.startswith("nvidia")]
    found += [(path, DEVICE) for path in dict.fromkeys(devices) if os.path.exists(path)]
    shared = ["/dev/shm"] if private_shm and os.path.isdir("/dev/shm") else []
    found += [(os.path.realpath(path), ALL_FS) for path in [*writable, *shared] if os.path.exists(path)]
    return found


def restrict(found: list[tuple[str, int]], version: int | None = None) -> str:
    """Restrict this process (and all it starts) to the rules ``found``: every file system right its
    ABI knows is handled, TCP bind and connect (ABI 4), abstract sockets and signals scoped (ABI 6).
    Needs ``no_new_privs`` set first. Returns what holds, in a few words; raises ``OSError`` when the
    kernel has no Landlock or refuses it."""
    version = abi() if version is None else version
    if version < 1:
        raise OSError(38, "this kernel has no Landlock (Linux 5.13 or later, with landlock among its LSMs)")
    handled = handled_fs(version)
    attr = RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0,
                       SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if version >= 6 else (16 if version >= 4 else 8)
    ruleset = _libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for path, access in found:
            try:
                handle = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(f"/proc/self/fd/{handle}"):   # a file takes no folder rights
                    access &= READ_FILE | WRITE_FILE | EXECUTE | TRUNCATE | IOCTL_DEV
                rule = PathBeneathAttr(access & handled, handle)
                if _libc.syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(handle)
        if _libc.syscall(RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    held = ["files"] + (["TCP"] if version >= 4 else []) + (["abstract sockets and signals"] if version >= 6 else [])
    return f"ABI {version}: {', '.join(held)}"
