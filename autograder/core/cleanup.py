"""Remove folders a worker wrote in, whatever it left there, without ever failing the grade.

A worker may leave a chain of folders thousands deep (deeper than the stack of a recursive removal and
longer than ``PATH_MAX``), folders without permissions, links, FIFOs, and, where it had the privilege,
immutable or append-only files. :func:`remove_tree` walks down with one open folder at a time (by
descriptor, never following a link), clears modes and those flags when a removal is refused, and
returns what it could not remove instead of raising.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import struct
import tempfile
from pathlib import Path
from typing import Iterator

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602
LOCKING_FLAGS = 0x10 | 0x20          # FS_IMMUTABLE_FL | FS_APPEND_FL


def _unlock(folder_fd: int, name: str | None = None) -> None:
    """Make ``name`` in ``folder_fd`` (or the folder itself) removable: owner rwx, no immutable or
    append-only flag (needs CAP_LINUX_IMMUTABLE, which a root grader has). Best effort."""
    try:
        info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False) if name else os.fstat(folder_fd)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=folder_fd) \
            if name else os.dup(folder_fd)
    except OSError:
        fd = None
    if fd is not None:
        try:
            flags = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("i", 0)))[0]
            if flags & LOCKING_FLAGS:
                fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags & ~LOCKING_FLAGS))
        except OSError:
            pass
        try:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) | stat.S_IRWXU)
        except OSError:
            pass
        os.close(fd)


def _retry(action, folder_fd: int, name: str) -> str | None:
    """Run ``action(name, dir_fd=folder_fd)``; on refusal unlock the entry and its folder and retry once."""
    try:
        action(name, dir_fd=folder_fd)
        return None
    except FileNotFoundError:
        return None
    except OSError:
        _unlock(folder_fd)
        _unlock(folder_fd, name)
    try:
        action(name, dir_fd=folder_fd)
        return None
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{name} ({error.strerror})"


def _clear(folder_fd: int, given_up: set[tuple[int, int]], failed: list[str], where: str) -> str | None:
    """Remove every entry of the folder but its subfolders; the first subfolder still to enter, if any."""
    _unlock(folder_fd)
    try:
        with os.scandir(folder_fd) as listing:
            entries = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing]
    except OSError as error:
        failed.append(f"{where} ({error.strerror})")
        return None
    subfolder = None
    for name, is_folder in entries:
        if not is_folder:
            problem = _retry(os.unlink, folder_fd, name)
            if problem:
                failed.append(f"{where}/{problem}")
        elif subfolder is None:
            try:
                info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in given_up:
                subfolder = name
    return subfolder


def remove_tree(path: Path | str) -> list[str]:
    """Remove ``path`` and everything under it (a link is removed, not followed), iteratively, holding
    one folder open at a time. Returns one line per entry it could not remove (empty when all went);
    never raises."""
    path = Path(path)
    failed: list[str] = []
    try:
        current = os.open(path.parent, _DIRECTORY)
    except OSError as error:
        return [] if isinstance(error, FileNotFoundError) else [f"{path} ({error.strerror})"]
    names: list[str] = []                 # the folders from ``path`` down to where we are
    given_up: set[tuple[int, int]] = set()
    try:
        try:
            if not stat.S_ISDIR(os.stat(path.name, dir_fd=current, follow_symlinks=False).st_mode):
                problem = _retry(os.unlink, current, path.name)
                return [f"{path.parent}/{problem}"] if problem else []
        except FileNotFoundError:
            return []
        enter: str | None = path.name
        while True:
            if enter is not None:
                try:
                    inner = os.open(enter, _DIRECTORY, dir_fd=current)
                except OSError:
                    _unlock(current, enter)
                    try:
                        inner = os.open(enter, _DIRECTORY, dir_fd=current)
                    except OSError as error:
                        failed.append(f"{'/'.join([str(path), *names[1:], enter])} ({error.strerror})")
                        info = os.stat(enter, dir_fd=current, follow_symlinks=False)
                        given_up.add((info.st_dev, info.st_ino))
                        if not names:
                            break
                        enter = _clear(current, given_up, failed, "/".join([str(path), *names[1:]]))
                        continue
                os.close(current)
                current = inner
                names.append(enter)
            enter = _clear(current, given_up, failed, "/".join([str(path), *names[1:]]))
            if enter is not None:
                continue
            # nothing left to enter here: go up and remove the folder we were in
            info = os.fstat(current)
            parent = os.open("..", _DIRECTORY, dir_fd=current)
            os.close(current)
            current = parent
            name = names.pop()
            problem = _retry(os.rmdir, current, name)
            if problem:
                failed.append("/".join([str(path), *names[1:], problem]) if names else f"{path} ({problem.split(' (', 1)[-1]}")
                given_up.add((info.st_dev, info.st_ino))
            if not names:
                break
    except OSError as error:
        failed.append(f"{path} ({error.strerror})")
    finally:
        os.close(current)
    return failed


@contextlib.contextmanager
def work_folder(prefix: str, problems: list[str] | None = None) -> Iterator[Path]:
    """A new private temporary folder, removed with :func:`remove_tree` afterwards; what could not be
    removed is added to ``problems`` (one line) instead of failing."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        left = remove_tree(folder)
        if left and problems is not None:
            problems.append(f"could not remove all of the work folder {folder.name}: {', '.join(left[:3])}")
