"""Lower the memory limits of every process of a worker, from outside it (``prlimit(2)``), and see which
installed packages its processes have mapped (``/proc/<pid>/maps``).

Used by :mod:`autograder.sandbox.bound`, in the grading process or, when the grader runs as root and the
worker under a uid of its own, in a process forked from it that takes the worker's uid: prlimit on another
user's process needs ``CAP_SYS_RESOURCE``, which containers often drop, while a process may always lower
the limits of its own uid's processes (raising a hard limit needs the capability, which the worker has
not). It imports nothing outside the standard library.
"""

from __future__ import annotations

import os
import resource

PASSES = 8
MAX_MAPS = 8 * 1024 * 1024   # bytes of one process's /proc/<pid>/maps read (a few hundred kB in practice)
PACKAGE_FOLDERS = ("site-packages", "dist-packages")


def _processes() -> dict[int, tuple[int, int, int]]:
    """Every process: pid -> (parent pid, start time, real uid)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rpartition(b")")[2].split()   # the name may hold ")" and spaces
            with open(f"/proc/{entry}/status", "rb") as handle:
                uid = next(int(line.split()[1]) for line in handle if line.startswith(b"Uid:"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
        table[int(entry)] = (int(fields[1]), int(fields[19]), uid)
    return table


def worker_tree(root: int, uid: int | None = None) -> dict[int, tuple[int, int]]:
    """``root`` and its descendants, plus every process of ``uid`` (when given): pid -> (start time, uid)."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root] + [pid for pid, (_, _, owner) in table.items() if uid is not None and owner == uid]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return {pid: table[pid][1:] for pid in found}


def _mapped_kb(pid: int) -> tuple[int, int] | None:
    """(VmSize, VmData) of ``pid`` in kB; ``None`` for a process that maps nothing (a zombie)."""
    fields = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in ("VmSize", "VmData"):
                fields[name] = int(rest.split()[0])
    return (fields["VmSize"], fields["VmData"]) if len(fields) == 2 else None


def limit_process(pid: int, headroom_mb: int) -> dict[str, int] | None:
    """Lower ``pid``'s RLIMIT_AS and RLIMIT_DATA to what it maps now + ``headroom_mb`` (soft = hard, never
    above the hard limit it had): the limits in bytes, or ``None`` for a zombie."""
    mapped = _mapped_kb(pid)
    if mapped is None:
        return None
    limits = {}
    for name, kb in zip(("RLIMIT_AS", "RLIMIT_DATA"), mapped):
        which = getattr(resource, name)
        target = kb * 1024 + headroom_mb * 1024 * 1024
        _, hard = resource.prlimit(pid, which)
        target = target if hard == resource.RLIM_INFINITY else min(target, hard)
        resource.prlimit(pid, which, (target, target))
        limits[name] = target
    return limits


def packages_mapped(pid: int) -> set[str]:
    """The installed packages whose files ``pid`` maps (a shared object of ``numpy`` or ``torch`` is mapped
    once the package is imported, and stays mapped): the folder under ``site-packages`` of every mapped
    file, without its ``.libs`` or version suffix. Raises ``PermissionError`` when the process hides its
    maps (it made itself non-dumpable), ``ProcessLookupError``/``FileNotFoundError`` when it ended."""
    with open(f"/proc/{pid}/maps", "rb") as handle:
        data = handle.read(MAX_MAPS)
    found = set()
    for line in data.split(b"\n"):
        path = line.split(maxsplit=5)[5:]
        parts = path[0].decode("utf-8", "replace").split("/") if path else []
        for index, part in enumerate(parts[:-1]):
            if part in PACKAGE_FOLDERS:
                found.add(parts[index + 1].split(".")[0].split("-")[0])
                break
    return found


def tree_packages(root: int, uid: int | None = None, only_uid: int | None = None) -> list[str]:
    """The installed packages mapped by any process of the worker (as :func:`limit_tree` finds them)."""
    found: set[str] = set()
    for pid, (_, owner) in worker_tree(root, uid).items():
        if pid == os.getpid() or (pid == root and only_uid is not None and owner != only_uid):
            continue
        try:
            found |= packages_mapped(pid)
        except (ProcessLookupError, FileNotFoundError):
            continue   # it ended
    return sorted(found)


def limit_tree(root: int, headroom_mb: int, uid: int | None = None,
               only_uid: int | None = None) -> dict[int, dict[str, int] | None]:
    """Limit ``root``, its descendants and every process of ``uid`` (when given), enumerating them again
    until a pass finds no process not yet limited: a child forked before its parent's limit shows up in
    the next pass, one forked after it inherits the limit. With ``only_uid``, ``root`` is left alone when
    it is another user's (the launcher, root's, which waits outside the worker's PID namespace).
    Returns pid -> its limits (``None``: it ended, or maps nothing); raises ``OSError`` when a process
    cannot be limited, ``RuntimeError`` when new processes keep appearing."""
    done: dict[tuple[int, int], dict[str, int] | None] = {}
    for _ in range(PASSES):
        fresh = [(pid, start, owner) for pid, (start, owner) in worker_tree(root, uid).items()
                 if (pid, start) not in done]
        if not fresh:
            return {pid: limits for (pid, _), limits in done.items()}
        for pid, start, owner in fresh:
            if pid == os.getpid() or (pid == root and only_uid is not None and owner != only_uid):
                done[pid, start] = None
                continue
            try:
                done[pid, start] = limit_process(pid, headroom_mb)
            except ProcessLookupError:
                done[pid, start] = None    # it ended: nothing left to limit
            except FileNotFoundError:
                done[pid, start] = None
    raise RuntimeError(f"new processes kept appearing in the worker after {PASSES} passes")
