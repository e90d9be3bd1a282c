"""Bound a worker's whole process tree with a cgroup, where this machine lets the grader make one.

Resource limits (``setrlimit``) hold per process: a worker that forks up to its process limit could
use that many times its memory. A cgroup of its own bounds the tree: memory (``memory.max`` in cgroup
v2, ``memory.limit_in_bytes`` in v1) and tasks (``pids.max``, threads included). The grader makes one
per launch under its own cgroup (a cgroup v2 subtree where the memory and pids controllers are
enabled, else the v1 ``memory`` and ``pids`` hierarchies), the launcher moves itself into it before it
starts the worker, and the grader kills whatever is left in it and removes it afterwards. Where none can
be made (no cgroup file system, not writable, controllers not delegated), :func:`describe` says so and
the per-process limits alone apply.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
TASKS_PER_PROCESS = 4            # pids.max counts threads: torch and a Jupyter kernel start a few each
_numbers = itertools.count()
# The pid alone does not name a grader's cgroups: a grader killed by a time limit leaves its groups behind,
# and a later one (or one in a PID namespace of its own on the same host) can get the same pid.
_TOKEN = secrets.token_hex(4)


def _prefix() -> str:
    """The name every cgroup of this grading process starts with: its pid and a random token."""
    return f"lora-grade-{os.getpid()}-{_TOKEN}-"


def _own_groups() -> dict[str, str]:
    """``{controller: path}`` of this process's cgroups (``""`` for the v2 hierarchy)."""
    groups = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


def _v2_root() -> Path | None:
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split(" - ")
            if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
                return Path(fields[0].split()[4])
    except OSError:
        pass
    return None


@dataclass
class WorkerGroup:
    """The cgroup folders of one worker tree (one in v2; a memory and a pids folder in v1)."""

    folders: list[Path]
    version: int
    memory_mb: int
    tasks: int

    @property
    def procs(self) -> list[str]:
        """The files the launcher writes its pid into."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def describe(self) -> str:
        return (f"cgroup v{self.version} for the whole worker tree: memory {self.memory_mb} MB, "
                f"{self.tasks} tasks (threads included)")

    def oom_kills(self) -> int:
        """How many of its processes the kernel killed for passing the tree's memory limit."""
        for folder in self.folders:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    for line in (folder / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
                except (OSError, ValueError):
                    continue
        return 0

    def close(self) -> list[str]:
        """Kill every process left in it and remove it; what could not be removed, one line each."""
        problems = []
        for folder in self.folders:
            for attempt in range(50):
                pids = []
                try:
                    pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
                except (OSError, ValueError):
                    pass
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
                except OSError as error:
                    if attempt == 49:
                        problems.append(f"could not remove the cgroup {folder} ({error.strerror})")
                    time.sleep(0.02)
        return problems


STALE_SECONDS = 6 * 3600        # longer than any part's time budget: an older empty group's grader is gone
_swept: set[Path] = set()


def _stale(folder: Path) -> bool:
    """Whether ``folder`` is a worker cgroup a killed grader left: empty, older than :data:`STALE_SECONDS`,
    and the pid in its name (``lora-grade-<pid>-...``) is no process here."""
    fields = folder.name.split("-")
    if not folder.name.startswith("lora-grade-") or len(fields) < 4 or not fields[2].isdigit():
        return False
    try:
        if (folder / "cgroup.procs").read_text().strip() or time.time() - folder.stat().st_mtime < STALE_SECONDS:
            return False
        os.kill(int(fields[2]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _sweep(parent: Path) -> None:
    """Remove the stale worker cgroups under ``parent`` (a time limit's ``SIGKILL`` leaves them): once per
    parent and process; never raises."""
    if parent in _swept:
        return
    _swept.add(parent)
    try:
        children = list(parent.iterdir())
    except OSError:
        return
    for folder in children:
        if _stale(folder):
            try:
                folder.rmdir()
            except OSError:
                pass


def _make(parent: Path, name: str, settings: dict[str, str]) -> Path:
    _sweep(parent)
    folder = parent / name
    folder.mkdir()
    try:
        for key, value in settings.items():
            if (folder / key).exists():
                (folder / key).write_text(value)
            elif not key.startswith(("memory.swap", "memory.memsw")):
                raise OSError(0, f"{key} is missing")
    except OSError:
        folder.rmdir()
        raise
    return folder


_unavailable: str | None = None


def create(memory_mb: int, processes: int) -> WorkerGroup | str:
    """A new cgroup for one worker tree, or the reason (one line) why none could be made here."""
    global _unavailable
    if _unavailable:
        return _unavailable
    name = f"{_prefix()}{next(_numbers)}"
    memory, tasks = memory_mb * 2**20, processes * TASKS_PER_PROCESS
    groups, reasons = _own_groups(), []
    v2 = _v2_root()
    if v2 is not None and "" in groups:
        parent = v2 / groups[""].lstrip("/")
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(enabled):
                raise OSError(0, "the memory and pids controllers are not enabled for subgroups")
            folder = _make(parent, name, {"memory.max": str(memory), "memory.swap.max": "0", "pids.max": str(tasks)})
            return WorkerGroup([folder], 2, memory_mb, tasks)
        except OSError as error:
            reasons.append(f"v2 at {parent}: {error.strerror or error}")
    if "memory" in groups and "pids" in groups:
        made: list[Path] = []
        try:
            made.append(_make(ROOT / "memory" / groups["memory"].lstrip("/"), name,
                              {"memory.limit_in_bytes": str(memory), "memory.memsw.limit_in_bytes": str(memory)}))
            made.append(_make(ROOT / "pids" / groups["pids"].lstrip("/"), name, {"pids.max": str(tasks)}))
            return WorkerGroup(made, 1, memory_mb, tasks)
        except OSError as error:
            for folder in made:
                folder.rmdir()
            reasons.append(f"v1: {error.strerror or error}")
    _unavailable = ("no cgroup for the worker tree (" + ("; ".join(reasons) or "no cgroup file system")
                    + "): memory and processes are limited per process only")
    return _unavailable


def describe_here() -> str:
    """Which limits bound a worker tree on this machine, in one line (for the provenance of a grade)."""
    group = create(256, 16)
    if isinstance(group, str):
        return group
    group.close()
    return (f"cgroup v{group.version} for each worker tree: memory the part's memory_mb, tasks "
            f"{TASKS_PER_PROCESS} x its process limit (threads included)")


def leftover_cgroups() -> list[str]:
    """The worker cgroups this grading process made that still exist (after a grade there must be none)."""
    groups, found = _own_groups(), []
    prefix = _prefix()
    parents = [ROOT / "memory" / groups.get("memory", "/").lstrip("/"), ROOT / "pids" / groups.get("pids", "/").lstrip("/")]
    v2 = _v2_root()
    if v2 is not None:
        parents.append(v2 / groups.get("", "/").lstrip("/"))
    for parent in parents:
        try:
            found += [str(path) for path in parent.iterdir() if path.name.startswith(prefix)]
        except OSError:
            continue
    return found
