"""The guard of a worker's process tree, where the kernel grants no PID namespace (and, often, no cgroup).

In Gradescope's container, on a host without user namespaces or in a ``restricted`` pod, nothing ends
the worker's processes with the worker and nothing bounds their memory together: a daemon that leaves
its session (``setsid``, a double fork) runs on after the part, and children each under the worker's own
memory limit fill the machine together. There the launcher (:mod:`.launcher`) forks before raising the
walls: the child becomes the worker; the parent, outside Landlock and seccomp, is the guard:

  * it is a child subreaper (``PR_SET_CHILD_SUBREAPER``): every process the worker starts, whatever
    session it moves to, stays below it, so the guard reaps it, counts it and ends it;
  * where no cgroup bounds the tree (``memory_mb``), it sums the memory of every process below it every
    ``POLL_SECONDS`` (:func:`tree_memory_mb`: shared pages counted once, as a cgroup counts them); past
    the worker's memory it kills them all and says so in the launch report;
  * when the worker ends, or the grader stops it (SIGTERM), it kills every process left below it, reaps
    them, and exits as the worker did.

The guard imports nothing outside the standard library (the launcher runs alone, outside the package).
What it found is one more JSON line on the launch report's pipe: ``{"guard": {...}}``. With Landlock
ABI 6 and later the worker cannot signal it (signals are scoped to the worker's domain); as root it
takes the worker's uid, so it holds nothing the worker could want. Where neither holds, a worker that
kills its guard dies with it (parent-death signal) and the grader kills what is left of its session.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal

PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE = 36, 4
POLL_SECONDS = 0.1
KILL_PASSES = 50           # a pass kills every process found below the guard; what forked meanwhile, the next

libc = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    """Orphans below this process are reparented to it, not to init (Linux 3.4 and later)."""
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"child subreaper: {os.strerror(errno)}")


def descendants(root: int) -> list[int]:
    """Every process below ``root``, from ``/proc/<pid>/task/<tid>/children``; from every process's
    parent in ``/proc/<pid>/stat`` where the kernel does not offer those files."""
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):
        return _descendants_by_parent(root)
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as handle:
                    children = [int(child) for child in handle.read().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in found:
                    found.append(child)
                    queue.append(child)
    return found


def _descendants_by_parent(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, queue = [], [root]
    while queue:
        parent = queue.pop()
        for pid, its_parent in parents.items():
            if its_parent == parent and pid not in found:
                found.append(pid)
                queue.append(pid)
    return found


def _resident_kb(pid: int) -> int:
    """``pid``'s resident anonymous and shared memory (``/proc/<pid>/status``: counters, cheap to read;
    a page shared with another process counts in each)."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("RssAnon:", "RssShmem:")):
                    total += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0   # ended, or a zombie
    return total


def _proportional_kb(pid: int) -> int:
    """``pid``'s proportional set size (``/proc/<pid>/smaps_rollup``: a page shared by n processes counts
    1/n in each; the kernel walks every mapping for it, some 20 ms for a process that imported torch)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass   # ended, a zombie, or not ours to read
    return 0


def tree_memory_mb(pids: list[int], limit_mb: float) -> float:
    """The memory of ``pids`` together: their resident memory summed, which counts the pages forked
    children share with their parent once in each, while that stays within ``limit_mb``; past it, their
    proportional set size (shared pages counted once, as a cgroup counts them)."""
    resident = sum(_resident_kb(pid) for pid in pids) / 1024
    if resident <= limit_mb:
        return resident
    return sum(_proportional_kb(pid) for pid in pids) / 1024


class _Tree:
    """The processes below the guard: reaps them, keeps the worker's wait status, kills them."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.status: int | None = None   # the worker's, once reaped

    def reap(self) -> None:
        while True:
            try:
                pid, code = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.worker:
                self.status = code

    def kill(self) -> int:
        """Kill every process below the guard until none is left; how many were killed."""
        killed = 0
        for _ in range(KILL_PASSES):
            self.reap()
            left = descendants(os.getpid())
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
        return killed


def guard(worker: int, memory_mb: int | None, report_fd: int) -> None:
    """Watch the tree below this process until ``worker`` ends, then end it and exit as the worker did
    (128 + N when a signal N ended it). ``memory_mb``: the tree's bound, ``None`` where a cgroup holds it.
    Never returns."""
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    tree = _Tree(worker)
    try:
        watched = os.pidfd_open(worker)
    except OSError:
        watched = None
    peak, over = 0.0, False
    while tree.status is None:
        try:
            select.select([watched] if watched is not None else [], [], [], POLL_SECONDS)
        except InterruptedError:
            pass
        tree.reap()
        if tree.status is not None:
            break
        if stop:
            tree.kill()
        elif memory_mb and not over:
            used = tree_memory_mb(descendants(os.getpid()), memory_mb)
            peak = max(peak, used)
            if used > memory_mb:
                over = True
                tree.kill()
    left = tree.kill()
    found = {"memory_mb": memory_mb, "peak_mb": round(peak, 1), "over": over, "killed_after": left}
    try:
        os.write(report_fd, b"\n" + json.dumps({"guard": found}).encode())
    except OSError:
        pass
    status = tree.status
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def dumpable() -> None:
    """Make this process readable by its own uid again (a change of uid without ``exec`` made it not
    dumpable): the guard, of the same uid, reads the memory of the worker and its children."""
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
