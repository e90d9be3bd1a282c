"""Count, from the grading process, how often files the grader handed to a worker are opened.

Linux ``inotify`` reports every ``open(2)`` of a watched inode to the process holding the watch, whoever
opens it and from whichever namespace: the count is kept by the kernel for the grader, and nothing the
worker's code patches (a loader, a counter, ``safetensors``) changes it. The kernel merges an event into
an identical one still unread at the end of its queue, so a thread of the grader reads the events as
they come: two opens of one file are merged only when nothing else happened in between and the grader
had not yet woken up. Used for inputs a probe must read
a given number of times, such as each character's adapter (``service/loads_once``).
"""

from __future__ import annotations

import ctypes
import dataclasses
import ctypes.util
import os
import select
import struct
import threading
from pathlib import Path

from ..core.serial import TRUSTED

IN_OPEN = 0x00000020
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")   # wd, mask, cookie, len; then len bytes of name


class WatchError(RuntimeError):
    """inotify is not available (not Linux, or the watch limit is reached)."""


class OpenCounter:
    """Opens of the files of some folders (``watch``), counted between ``start`` and ``stop``."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise WatchError(f"inotify_init1 failed: {os.strerror(ctypes.get_errno())}")
        self._folders: dict[int, Path] = {}
        self._counts: dict[Path, int] = {}
        self.overflowed = False

    def watch(self, folder: Path) -> None:
        """Count opens of every file in ``folder`` and its subfolders (as they are now)."""
        for path in [folder, *(path for path in folder.rglob("*") if path.is_dir() and not path.is_symlink())]:
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), IN_OPEN)
            if wd < 0:
                raise WatchError(f"inotify_add_watch({path}) failed: {os.strerror(ctypes.get_errno())}")
            self._folders[wd] = path

    def start(self) -> None:
        """Read events as they come, in a thread of the grading process, until ``stop``."""
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._drain_until_stopped, daemon=True)
        self._thread.start()

    def stop(self) -> dict[Path, int]:
        """Stop reading; the opens of each file seen (files never opened are absent)."""
        os.write(self._wake_write, b"x")
        self._thread.join()
        for descriptor in (self._wake_read, self._wake_write):
            os.close(descriptor)
        self._drain()
        return dict(self._counts)

    def _drain_until_stopped(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._wake_read], [], [])
            self._drain()
            if self._wake_read in ready:
                return

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True   # more events than the kernel queues: too many opens to count
                elif mask & IN_OPEN and name and wd in self._folders:
                    path = self._folders[wd] / os.fsdecode(name)
                    self._counts[path] = self._counts.get(path, 0) + 1

    def close(self) -> None:
        os.close(self._fd)




class WatchedInputs:
    """The input files of a list of calls (``ProbeCall.inputs``), written by the grader under ``root``,
    and their opens counted from ``start`` until ``observe``."""

    def __init__(self, calls: list, root: Path) -> None:
        from ..runtime.probes import get_probe

        self.root, self.folders, self.counter = root, {}, None
        for index, call in enumerate(calls):
            if call.inputs:
                folder = root / f"{index:04d}"
                folder.mkdir(parents=True)
                with TRUSTED:   # the grader's own torch work (a seeded model) runs one part at a time
                    get_probe(call.inputs)(folder, **call.args)
                self.folders[index] = folder

    def start(self) -> None:
        """Count from now on; without inotify nothing is counted and the checks that need it say so."""
        if self.folders:
            try:
                self.counter = OpenCounter()
                self.counter.watch(self.root)
            except (WatchError, OSError):
                if self.counter is not None:
                    self.counter.close()
                self.counter = None
                return
            self.counter.start()

    def args(self, index: int, args: dict) -> dict:
        """A call's arguments, with ``inputs``: the folder of its files, for a call that has some."""
        return {**args, "inputs": str(self.folders[index])} if index in self.folders else args

    def observe(self, outcomes: list) -> None:
        """Stop counting; give each outcome of a call with inputs ``observed["opens"]``: every file of its
        folder (relative path) and how often it was opened (``None`` each when the kernel's queue
        overflowed: too many opens to count)."""
        if self.counter is None:
            return
        counts = self.counter.stop()
        self.counter.close()
        for index, folder in self.folders.items():
            if outcomes[index] is not None:
                files = sorted(path for path in folder.rglob("*") if path.is_file() and not path.is_symlink())
                opens = {path.relative_to(folder).as_posix(): None if self.counter.overflowed else counts.get(path, 0)
                         for path in files}
                outcomes[index] = dataclasses.replace(outcomes[index], observed={"opens": opens})
