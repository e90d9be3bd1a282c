"""Run one program (not the probe worker) in the sandbox, once, and report how it ended.

For tools that run student work as a whole, like the lecture notebook's cells: the same launcher,
namespaces, hidden paths, worker identity and limits as the probe worker (forked from the same warm
zygote when ``warm`` names libraries), its output drained and capped the same way, and everything it
left behind killed when it ends or runs out of time or disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import zygote
from .supervise import (OUTPUT_KEPT, ForkedProcess, Limits, _hand_over, _launch, _supervise, _why_it_stopped,
                        _writable, launch_report, worker_identity)


@dataclass
class CommandReport:
    """How a sandboxed command ended; ``stopped`` is a sentence when it did not exit 0."""

    returncode: int | None
    timed_out: bool
    output: str = ""
    output_bytes: int = 0
    seconds: float = 0.0
    stopped: str = ""
    isolation: dict = field(default_factory=dict)
    warm: bool = False                 # forked from a warm zygote (else a cold launch)


def run_command(workdir: Path, code: str, limits: Limits, hide: list[Path], readable: tuple[str, ...],
                env: dict[str, str] | None = None, warm: tuple[str, ...] = (), guarded: list[str] = ()) -> CommandReport:
    """Run the Python source ``code`` in the sandbox from the fresh folder ``workdir``, whose entries named
    in ``readable`` it may read; it gets ``out/`` and ``scratch/`` (its working directory and home) to
    write in. With ``warm``, forked from the zygote that imported those libraries (cold when there is
    none); the time waited for the zygote to start is not the command's. ``guarded``: files the launcher
    tries to open once the walls are up (:mod:`.walls`). Never raises for what the code does."""
    started = time.monotonic()
    worker = worker_identity()
    _writable(workdir, worker)
    _hand_over(workdir, worker, readable)
    process = _launch(workdir, limits, limits.wall_seconds, hide, worker, code=code, env=env,
                      warm=zygote.for_libraries(warm), guarded=guarded)
    if isinstance(process, ForkedProcess):   # the zygote's own start is the grader's time
        started += process.waited
    drain, stopped = _supervise(process, limits.wall_seconds, workdir, limits, worker=worker)  # the kernel dies with it too
    isolation = launch_report(process)
    failed = stopped is not None or process.returncode != 0
    return CommandReport(returncode=process.returncode, timed_out=stopped == "time",
                         output=bytes(drain.kept[:OUTPUT_KEPT]).decode("utf-8", errors="replace"),
                         output_bytes=drain.total, seconds=time.monotonic() - started, isolation=isolation,
                         stopped=_why_it_stopped(process.returncode, stopped, limits) if failed else "",
                         warm=isinstance(process, ForkedProcess))
