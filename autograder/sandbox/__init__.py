"""The sandbox: student code runs in a separate, limited worker process behind layered walls.

Each part of it is a module of its own; this file holds no logic, it names what the rest of the grader uses:
  * :mod:`.supervise`: run a part's probes in a worker and read back plain data (``run_probes``,
    ``Limits``, ``WorkerReport``), the worker's identity and folder;
  * :mod:`.command`: run one program (the lecture notebook) in the same sandbox;
  * :mod:`.launcher`: the steps every worker goes through before student code, cold or forked warm;
  * :mod:`.policy`: what a worker sees (hidden, handed, writable paths);
  * the walls: namespaces and covers (:mod:`.launcher`), the uid barrier (:mod:`.supervise`),
    :mod:`.landlock`, :mod:`.seccomp`; :mod:`.walls` records which held and stops a grade when none
    keeps the grader's files from the worker;
  * limits: :mod:`.cgroup`, :mod:`.bound`, :mod:`.limiter`, :mod:`.watch`; the grader as the HTTP client
    of what a worker serves on a Unix socket: :mod:`.served`; warm workers:
    :mod:`.zygote`, :mod:`.zygote_server`.
"""

from __future__ import annotations

from .supervise import (NOBODY, OUTPUT_KEPT, WORKER_IDS, Limits, WorkerReport, copy_worker_code, launch_report,
                        leftover_workers, run_probes, worker_environment, worker_identity)

__all__ = ["NOBODY", "OUTPUT_KEPT", "WORKER_IDS", "Limits", "WorkerReport", "copy_worker_code", "launch_report",
           "leftover_workers", "run_probes", "worker_environment", "worker_identity"]
