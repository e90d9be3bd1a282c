"""Memory limits set on the worker from outside it, for a probe that must run under them.

A call with ``ProbeCall.bounded`` (``lora/no_materialise``, ``matmul/pure_python``) asks, through
``out/NNNN.request``, for its secret inputs. The grading process then lowers ``RLIMIT_AS`` and
``RLIMIT_DATA`` (soft = hard = what the process maps now + ``args["headroom_mb"]``) of every process of the
worker or, for a call without ``headroom_mb``, reads which installed packages every process of the worker
maps (``/proc/<pid>/maps``: ``Outcome.observed["grant"]["packages"]``) with ``prlimit(2)`` (:mod:`.limiter`), and only then
writes the inputs (made from the call's ``args`` and ``context``, which
the worker never sees) into ``inputs/NNNN/``. Nothing in the worker can undo this: raising a hard limit
needs ``CAP_SYS_RESOURCE``, which the worker has not (no capabilities, no_new_privs), and patching
``resource`` or ``os.fork`` in the student's process changes nothing the kernel enforces. What was done
is recorded as the call's ``Outcome.observed["grant"]``, made here and nowhere else.

Every process of the worker: the launcher and all its descendants (parents read from ``/proc/*/stat``;
in the worker's own PID namespace an orphan is adopted by its init, so stays a descendant), plus, when
the worker has a uid of its own, every process of that uid.

A call with ``ProbeCall.served`` asks the same way once it serves on ``out/NNNN.sock``: the grading process
then sends the call's requests itself (:mod:`.served`), records the answers as
``Outcome.observed["grant"]["served"]`` and tells the probe to stop (its inputs: ``{"stop": true}``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..core.serial import TRUSTED
from ..runtime import transport
from .limiter import limit_tree, tree_packages, worker_tree
from . import served
from .served import connector, exchange

SECRET = "secret"      # inputs/NNNN/secret.json (+ .safetensors): written only once the limits are set
REFUSED = "refused"    # inputs/NNNN/refused.json: why no grant came


def _open_folder(base: Path, *names: str) -> int:
    """A descriptor of ``base/names...``, refusing any link on the way (the worker may own the folders)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for name in names:
        try:
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        fd = inner
    return fd


def write_new(folder: Path, stem: str, value: Any, *names: str) -> None:
    """``value`` as ``stem.json`` (+ ``stem.safetensors``) in ``folder/names...``, each file written anew
    under a temporary name (``O_EXCL``, no link followed: a file the worker placed there first makes this
    fail, never redirects it), then renamed into place, so the worker, which polls for the JSON, never
    reads a file still being written."""
    structure, tensors = transport.encode(value)
    files = []
    if tensors:
        from safetensors.torch import save

        files.append((f"{stem}.safetensors", save(tensors)))
    files.append((f"{stem}.json", json.dumps(structure).encode()))   # last: a reader seeing it sees all
    fd = _open_folder(folder, *names)
    try:
        for name, data in files:
            handle = os.open(f".{name}.part", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(f".{name}.part", name, src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def secret_inputs(call: Any) -> Any:
    """The inputs of a bounded call, made in the grading process from its ``args`` and ``context``."""
    from ..runtime.probes import get_probe

    with TRUSTED:   # the grader's own torch work (a seeded model) runs one part at a time
        return get_probe(call.bounded)(**call.args, **call.context)


class Grants:
    """The bounded calls of one run: their folders under ``workdir/inputs``, and the grants made."""

    def __init__(self, calls: list, workdir: Path, worker: int | None, own_uid: bool) -> None:
        self.calls, self.workdir, self.worker, self.own_uid = calls, workdir, worker, own_uid
        self.indices = [index for index, call in enumerate(calls) if call.bounded or call.served]
        self.observed: dict[int, dict] = {}
        self.serving: dict[int, threading.Thread] = {}   # served calls being queried, beside the supervision
        for index in self.indices:
            (workdir / "inputs" / f"{index:04d}").mkdir(parents=True)

    def args(self, index: int, args: dict) -> dict:
        """A call's arguments, with ``inputs`` (where its secret inputs will be) and ``request`` (the file
        that asks for them) for a bounded call."""
        if index not in self.indices:
            return args
        return {**args, "inputs": str(self.workdir / "inputs" / f"{index:04d}"),
                "request": str(self.workdir / "out" / f"{index:04d}.request")}

    def end(self, start: int) -> int:
        """Where a launch that starts at ``start`` stops: after the first bounded call (its limits stay
        with the process, so the calls after it get a fresh worker)."""
        return next((index + 1 for index in self.indices if index >= start and self.calls[index].bounded),
                    len(self.calls))

    def poll(self, root: int) -> None:
        """Answer each request now in ``out/``: limit the worker, then write the inputs (or say why not)."""
        for index in self.indices:
            if index in self.observed or index in self.serving or \
                    not os.path.lexists(self.workdir / "out" / f"{index:04d}.request"):
                continue
            call, started = self.calls[index], time.monotonic()
            if call.served:   # in a thread: the supervision (time, disk) goes on while the grader asks
                self.serving[index] = threading.Thread(target=self._serve, args=(index, call, root), daemon=True)
                self.serving[index].start()
                continue
            headroom = call.args.get("headroom_mb")
            headroom = None if headroom is None else int(headroom)
            try:
                limited, packages = self._limit(root, headroom)
                write_new(self.workdir, SECRET, secret_inputs(call), "inputs", f"{index:04d}")
            except (OSError, RuntimeError) as error:
                self.observed[index] = {"granted": False, "why": f"{type(error).__name__}: {error}"[:300]}
                try:
                    write_new(self.workdir, REFUSED, {"why": self.observed[index]["why"]}, "inputs", f"{index:04d}")
                except OSError:
                    pass
                continue
            self.observed[index] = {"granted": True, "headroom_mb": headroom, "seconds": time.monotonic() - started,
                                    "processes": len(limited), "packages": packages,
                                    "limited": sorted(pid for pid, limits in limited.items() if limits)}

    def _serve(self, index: int, call: Any, root: int) -> None:
        """Query what call ``index`` serves on ``out/NNNN.sock`` (its requests: ``served(**args)``), then tell
        the probe to stop; the answers, measured here, are the grant's ``served``."""
        self.observed[index] = self._query(index, call, root)

    def _query(self, index: int, call: Any, root: int) -> dict:
        started, answers = time.monotonic(), None
        uid = self.worker if self.own_uid else None
        try:
            from ..runtime.probes import get_probe

            calls = get_probe(call.served)(**call.args, **call.context)   # plain data: the requests
            folder = _open_folder(self.workdir, "out")
            try:
                connect = connector(folder, f"{index:04d}.sock", lambda: set(worker_tree(root, uid)))
                answers = exchange(connect, calls)
            finally:
                os.close(folder)
        except Exception as error:  # noqa: BLE001 - the call fails with the reason, never the grade
            why = f"{type(error).__name__}: {error}"[:300]
            try:
                write_new(self.workdir, REFUSED, {"why": why}, "inputs", f"{index:04d}")
            except OSError:
                pass
            return {"granted": False, "why": why}
        try:
            write_new(self.workdir, SECRET, {"stop": True}, "inputs", f"{index:04d}")
        except OSError:
            pass   # the probe waits in vain and ends on its own timeout; the answers stand
        return {"granted": True, "served": answers, "seconds": time.monotonic() - started}

    def _limit(self, root: int, headroom_mb: int | None) -> tuple[dict[int, dict | None], list[str]]:
        """Limit the worker's processes to ``headroom_mb`` more memory or, without one, read which packages
        they map: here, or (as root) in a child that first takes the worker's uid (prlimit on, and the maps
        of, another user's process need ``CAP_SYS_RESOURCE`` and ``CAP_SYS_PTRACE``, which containers drop).
        A worker that is not dumpable (a warm fork changed its uid without ``exec``) hides its maps from
        its own uid: only cold workers are measured so."""
        uid = self.worker if self.own_uid else None
        if self.worker is None or os.geteuid() != 0:
            if headroom_mb is None:
                return {}, tree_packages(root, uid)
            return limit_tree(root, headroom_mb, uid), []
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:   # only system calls and plain data here: no lock another thread held is needed
            try:
                os.setgroups([])
                os.setresgid(self.worker, self.worker, self.worker)
                os.setresuid(self.worker, self.worker, self.worker)
                packages = tree_packages(root, uid, only_uid=self.worker) if headroom_mb is None else []
                limited = limit_tree(root, headroom_mb, uid, only_uid=self.worker) if headroom_mb is not None else {}
                data = json.dumps({"limited": {str(pid): limits for pid, limits in limited.items()},
                                   "packages": packages})
            except BaseException as error:  # noqa: BLE001 - reported to the parent, which refuses the grant
                data = json.dumps({"error": f"{type(error).__name__}: {error}"[:300]})
            try:
                with os.fdopen(writing, "wb") as pipe:
                    pipe.write(data.encode())
            finally:
                os._exit(0)
        os.close(writing)
        with os.fdopen(reading, "rb") as pipe:
            data = pipe.read(1 << 20)
        os.waitpid(child, 0)
        try:
            answer = json.loads(data)
        except ValueError:
            raise RuntimeError("the limiting process did not answer") from None
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return {int(pid): limits for pid, limits in answer["limited"].items()}, [str(name) for name in answer["packages"]]

    def observe(self, outcomes: list) -> None:
        """Give each bounded call's outcome ``observed["grant"]`` (``None``: the worker never asked). Called
        once the worker has ended, so a query still running ends at once (its connection is gone)."""
        for thread in self.serving.values():
            thread.join(timeout=served.TOTAL_SECONDS)
        for index in self.indices:
            if outcomes[index] is not None:
                observed = {**(outcomes[index].observed or {}), "grant": self.observed.get(index)}
                outcomes[index] = dataclasses.replace(outcomes[index], observed=observed)
