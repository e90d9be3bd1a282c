"""Count, from the grading process, how often files the grader handed to a worker are opened.

Linux ``inotify`` reports every ``open(2)`` of a watched inode to the process holding the watch, whoever
opens it and from whichever namespace: the count is kept by the kernel for the grader, and nothing the
worker's code patches (a loader, a counter, ``safetensors``) changes it. The kernel merges an event into
an identical one still unread at the end of its queue, so a thread of the grader reads the events as
they come: two opens of one file are merged only when nothing else happened in between and the grader
had not yet woken up. Used for inputs a probe must read
a given number of times, such as each character's adapter (``service/loads_once``).

A copy is a file too: the grader also follows the worker's writable folders (``out/`` and ``scratch/`` of
its work folder, and every folder created in them, added as the kernel reports its creation) and counts
the opens of every file there, so that an adapter copied once and re-read from the copy on every request
counts like the original. What the kernel cannot show: bytes re-read from memory, or from a file the
worker keeps open, or from ``/dev/shm`` (a tmpfs of the worker's own mount namespace).
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
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_IGNORED = 0x00008000
IN_Q_OVERFLOW = 0x00004000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
FOLLOWED_FOLDERS = 512   # folders of the writable area followed at most; more overflow the count
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
        # folders whose new subfolders are watched as they appear: wd -> the names followed (None: any)
        self._follow: dict[int, frozenset[str] | None] = {}
        self._followed = 0
        # opens in the followed folders, by watch and name: a folder made anew (out/ before every launch) is
        # another watch, so the files of each of its lives are counted apart
        self.written: dict[tuple[int, str], int] = {}
        self._paths: dict[int, Path] = {}   # every followed watch's folder, kept after the folder is gone
        self.overflowed = False

    def _add(self, path: Path, mask: int) -> int:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), mask)
        if wd < 0:
            raise WatchError(f"inotify_add_watch({path}) failed: {os.strerror(ctypes.get_errno())}")
        self._folders[wd] = path
        return wd

    def watch(self, folder: Path) -> None:
        """Count opens of every file in ``folder`` and its subfolders (as they are now)."""
        for path in [folder, *(path for path in folder.rglob("*") if path.is_dir() and not path.is_symlink())]:
            self._add(path, IN_OPEN)

    def follow(self, parent: Path, names: tuple[str, ...]) -> None:
        """Count opens of every file, now and later, in the folders ``names`` of ``parent`` (also when they
        are made anew) and in every folder created below them while counting."""
        self._follow[self._add(parent, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)] = frozenset(names)
        for name in names:
            if (parent / name).is_dir() and not (parent / name).is_symlink():
                self._follow_tree(parent / name)

    def written_paths(self) -> list[tuple[Path, int]]:
        """The opens of each file of the followed folders (a file of a folder made anew counted apart),
        the most opened first."""
        opens = [(self._paths[wd] / name, count) for (wd, name), count in self.written.items()]
        return sorted(opens, key=lambda item: -item[1])

    def _follow_tree(self, folder: Path) -> None:
        """Watch ``folder`` and its subfolders for opens and new subfolders (bounded: FOLLOWED_FOLDERS)."""
        pending = [folder]
        while pending:
            path = pending.pop()
            if self._followed >= FOLLOWED_FOLDERS:
                self.overflowed = True   # a worker making folders by the hundred: too much to follow
                return
            try:
                wd = self._add(path, IN_OPEN | IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW)
                children = [entry for entry in os.scandir(path) if entry.is_dir(follow_symlinks=False)]
            except (WatchError, OSError):
                self.overflowed = self.overflowed or path.exists()
                continue
            self._follow[wd] = None
            self._paths[wd] = path
            self._followed += 1
            pending += [Path(entry.path) for entry in children]

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
                elif mask & IN_IGNORED:
                    self._folders.pop(wd, None)   # the folder is gone (a wd number may be reused later)
                    self._follow.pop(wd, None)
                elif mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and name and wd in self._follow:
                    names = self._follow[wd]
                    if names is None or os.fsdecode(name) in names:
                        self._follow_tree(self._folders[wd] / os.fsdecode(name))
                elif mask & IN_OPEN and not mask & IN_ISDIR and name and wd in self._folders:
                    path = self._folders[wd] / os.fsdecode(name)
                    self._counts[path] = self._counts.get(path, 0) + 1
                    if wd in self._follow:
                        self.written[wd, os.fsdecode(name)] = self.written.get((wd, os.fsdecode(name)), 0) + 1

    def close(self) -> None:
        os.close(self._fd)




class WatchedInputs:
    """The input files of a list of calls (``ProbeCall.inputs``), written by the grader under ``root``,
    and their opens counted from ``start`` until ``observe``."""

    WRITABLE = ("out", "scratch")
    SHOWN = 20   # files of the writable area reported, the most opened first

    def __init__(self, calls: list, root: Path, workdir: Path | None = None) -> None:
        """``workdir``: the worker's work folder, whose writable folders (``WRITABLE``) are followed too."""
        from ..runtime.probes import get_probe

        self.root, self.workdir, self.folders, self.counter = root, workdir, {}, None
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
                if self.workdir is not None:
                    self.counter.follow(self.workdir, self.WRITABLE)
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
        overflowed: too many opens to count), and ``observed["written"]``: the files of the worker's
        writable folders opened most often while the worker ran, by path relative to the work folder, and
        their opens (``None`` when they could not all be counted; ``{}`` without a work folder)."""
        if self.counter is None:
            return
        counts = self.counter.stop()
        self.counter.close()
        written: dict[str, int] | None = {}
        if self.counter.overflowed:
            written = None
        elif self.workdir is not None:
            for path, count in self.counter.written_paths()[:self.SHOWN]:
                name = path.relative_to(self.workdir).as_posix()[:200]
                written[name] = max(count, written.get(name, 0))
        for index, folder in self.folders.items():
            if outcomes[index] is not None:
                files = sorted(path for path in folder.rglob("*") if path.is_file() and not path.is_symlink())
                opens = {path.relative_to(folder).as_posix(): None if self.counter.overflowed else counts.get(path, 0)
                         for path in files}
                outcomes[index] = dataclasses.replace(outcomes[index], observed={"opens": opens, "written": written})
