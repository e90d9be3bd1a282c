"""The memory and CPU this grading process may use: its container's limits, read from cgroup files.

Gradescope runs the grader in a Docker container with 768 MB of memory and half a CPU by default; a
Kubernetes pod or a Slurm job has limits of its own. The kernel enforces them on the whole process tree
(the grader, the zygote and every worker), so the grader reads them to choose how many parts to grade
at once and whether to keep warm workers (see :mod:`autograder.engine.grading`).

Read from cgroup v2 (``memory.max``, ``cpu.max``) or v1 (``memory.limit_in_bytes`` and ``memory.stat``'s
``hierarchical_memory_limit``, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``): the process's own cgroup
(``/proc/self/cgroup``) and every ancestor visible under the mount, the smallest limit winning. Inside a
container that mounts only its own group (no cgroup namespace) the own path is not found under the mount
and the mount's top is read instead. Never fails: what cannot be read counts as no limit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

UNLIMITED = 2**60          # v1 writes "no limit" as a page-aligned LONG_MAX


@dataclass(frozen=True)
class Resources:
    """What the container allows: ``memory_mb`` (``None``: no limit was found), ``cpus`` (the CPU quota
    in cores, at most the cores of the affinity mask) and where each was read (for the provenance)."""

    memory_mb: int | None
    cpus: float
    memory_source: str = "no memory limit found"
    cpu_source: str = "no CPU quota found: the cores this process may run on"

    def short(self) -> str:
        """The limits alone, without where they were read (for a message anyone may read)."""
        memory = f"{self.memory_mb} MB of memory" if self.memory_mb is not None else "no memory limit"
        return f"{memory}, {self.cpus:g} CPUs"

    def describe(self) -> str:
        memory = f"{self.memory_mb} MB" if self.memory_mb is not None else "no limit"
        return f"memory {memory} ({self.memory_source}); CPUs {self.cpus:g} ({self.cpu_source})"


@dataclass(frozen=True)
class _Mount:
    version: int
    controllers: frozenset[str]
    root: str           # the path inside the hierarchy that is mounted
    point: Path


def _mounts(mountinfo: Path) -> list[_Mount]:
    found = []
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2":
            found.append(_Mount(2, frozenset(), fields[3], Path(fields[4])))
        elif tail[0] == "cgroup":
            found.append(_Mount(1, frozenset(tail[2].split(",")), fields[3], Path(fields[4])))
    return found


def _own_groups(cgroup_file: Path) -> dict[str, str]:
    """``{controller: path}``; the v2 hierarchy's path under ``""``."""
    groups = {}
    try:
        lines = cgroup_file.read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                groups[controller] = parts[2]
    return groups


def _folders(mount: _Mount, own: str) -> list[Path]:
    """The process's group under ``mount`` and its ancestors up to the mount's top, innermost first."""
    own_path, root = Path("/" + own.lstrip("/")), Path("/" + mount.root.lstrip("/"))
    inner = mount.point
    if own_path.is_relative_to(root):
        candidate = mount.point / own_path.relative_to(root)
        if candidate.is_dir():
            inner = candidate
    return [inner, *[folder for folder in inner.parents if folder.is_relative_to(mount.point)]]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _memory(mounts: list[_Mount], groups: dict[str, str]) -> tuple[int | None, str]:
    best: tuple[int, str] | None = None

    def consider(value: int, where: str) -> None:
        nonlocal best
        if 0 < value < UNLIMITED and (best is None or value < best[0]):
            best = (value, where)

    for mount in mounts:
        if mount.version == 2 and "" in groups:
            for folder in _folders(mount, groups[""]):
                text = _read(folder / "memory.max")
                if text and text.isdigit():
                    consider(int(text), f"cgroup v2 {folder / 'memory.max'}")
        elif mount.version == 1 and "memory" in mount.controllers and "memory" in groups:
            for folder in _folders(mount, groups["memory"]):
                text = _read(folder / "memory.limit_in_bytes")
                if text and text.isdigit():
                    consider(int(text), f"cgroup v1 {folder / 'memory.limit_in_bytes'}")
                for line in (_read(folder / "memory.stat") or "").splitlines():
                    key, _, value = line.partition(" ")
                    if key == "hierarchical_memory_limit" and value.isdigit():
                        consider(int(value), f"cgroup v1 {folder / 'memory.stat'} hierarchical_memory_limit")
    if best is None:
        return None, Resources.memory_source
    return best[0] // 2**20, best[1]


def _quota(mounts: list[_Mount], groups: dict[str, str]) -> tuple[float | None, str]:
    best: tuple[float, str] | None = None

    def consider(quota: int, period: int, where: str) -> None:
        nonlocal best
        if quota > 0 and period > 0 and (best is None or quota / period < best[0]):
            best = (quota / period, where)

    for mount in mounts:
        if mount.version == 2 and "" in groups:
            for folder in _folders(mount, groups[""]):
                fields = (_read(folder / "cpu.max") or "").split()
                if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
                    consider(int(fields[0]), int(fields[1]), f"cgroup v2 {folder / 'cpu.max'}")
        elif mount.version == 1 and "cpu" in mount.controllers and "cpu" in groups:
            for folder in _folders(mount, groups["cpu"]):
                quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
                if quota and period and quota.lstrip("-").isdigit() and period.isdigit():
                    consider(int(quota), int(period), f"cgroup v1 {folder / 'cpu.cfs_quota_us'}")
    return (best[0], best[1]) if best else (None, Resources.cpu_source)


def container_resources(proc: Path = Path("/proc/self")) -> Resources:
    """The memory limit and CPU quota of the container (or cgroup) this process runs in."""
    mounts, groups = _mounts(proc / "mountinfo"), _own_groups(proc / "cgroup")
    memory_mb, memory_source = _memory(mounts, groups)
    quota, cpu_source = _quota(mounts, groups)
    try:
        cores = len(os.sched_getaffinity(0))
    except OSError:
        cores = os.cpu_count() or 1
    cpus = float(cores) if quota is None else min(float(cores), quota)
    return Resources(memory_mb, round(cpus, 3), memory_source, cpu_source)


def container_oom_kills(proc: Path = Path("/proc/self")) -> dict[str, int]:
    """How many processes the kernel has killed for memory in this process's memory cgroup and each of
    its ancestors (v1 ``memory.oom_control``, v2 ``memory.events``: ``oom_kill``, Linux 4.13 and later),
    by folder. Readable where the cgroups are read-only (a container's): two readings a worker's life
    apart tell whether the container ran out of memory meanwhile, where no cgroup of the worker's own
    could be made to say so."""
    mounts, groups = _mounts(proc / "mountinfo"), _own_groups(proc / "cgroup")
    found = {}
    for mount in mounts:
        if mount.version == 2 and "" in groups:
            folders, name = _folders(mount, groups[""]), "memory.events"
        elif mount.version == 1 and "memory" in mount.controllers and "memory" in groups:
            folders, name = _folders(mount, groups["memory"]), "memory.oom_control"
        else:
            continue
        for folder in folders:
            for line in (_read(folder / name) or "").splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.isdigit():
                    found[str(folder)] = int(value)
    return found


def oom_kills_since(before: dict[str, int], proc: Path = Path("/proc/self")) -> int:
    """Processes killed for memory since :func:`container_oom_kills` returned ``before`` (in the group
    where most were: a kill counts in the group whose limit was hit and, in v2, in its ancestors)."""
    now = container_oom_kills(proc)
    return max([now[folder] - count for folder, count in before.items() if folder in now] or [0])


def whole_cores(resources: Resources) -> int:
    """The cores one may keep busy at once: the quota rounded down, at least one."""
    return max(1, math.floor(resources.cpus + 1e-9))
