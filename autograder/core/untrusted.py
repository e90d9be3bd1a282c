"""Read folders and zips a student made, without being led out of them or flooded.

The grading process runs as root outside the sandbox, so every file of a submission is read here and
only here (the worker's result files through :func:`autograder.runtime.transport.read_regular`, the
same primitive). The rules, the same for a folder and a zip:

* regular files only, opened with ``O_NOFOLLOW``: a symbolic link, a device, a FIFO, a socket or a file
  with more than one hard link is left out, with a one-line reason;
* a name that is not valid UTF-8, or that could escape the folder (``..``, an absolute path, a
  backslash), is left out with a reason (in a zip such a name refuses the whole zip);
* at most :data:`MAX_FILES` files, :data:`MAX_BYTES` bytes and :data:`MAX_DEPTH` folders deep in all;
  past any of them the whole submission is refused (:class:`TooLarge`), and no file is read past what is
  left of the budget (a sparse 1 GiB file is refused from its size, without reading it).
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..runtime.transport import UnsafeFile, read_regular

MAX_FILES = 2000
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 16
MAX_ENTRIES = 4 * MAX_FILES           # names looked at (skipped ones included), so a huge folder is not listed
SKIPPED = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}  # folders never read
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class TooLarge(Exception):
    """The submission passes a limit (files, bytes, depth): it is refused as a whole, in one sentence."""


def shown(name: str | bytes) -> str:
    """A name as a report can print it (bytes that are not UTF-8 as ``\\xNN``)."""
    raw = os.fsencode(name)
    return raw.decode("utf-8", "backslashreplace")


def bad_name(name: str) -> str | None:
    """Why ``name`` (one component, as ``os.scandir`` gives it) is refused, or ``None``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        return "its name could escape the folder"
    return None


@dataclass
class Budget:
    """What is left to read of one submission, and what was left out so far (one line each)."""

    files: int = MAX_FILES
    bytes: int = MAX_BYTES
    entries: int = MAX_ENTRIES
    left_out: list[str] = field(default_factory=list)

    def take(self, size: int, what: str) -> None:
        self.files -= 1
        self.bytes -= size
        if self.files < 0:
            raise TooLarge(f"it holds more than {MAX_FILES} files")
        if self.bytes < 0:
            raise TooLarge(f"it holds more than {MAX_BYTES // 2**20} MB (at {what})")


def _descend(root_fd: int, parts: tuple[str, ...]) -> int:
    """A descriptor of the folder ``parts`` under ``root_fd``, each step opened with ``O_NOFOLLOW``."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            inner = os.open(part, _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_new(target: Path, data: bytes) -> None:
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)


def copy_file(folder_fd: int, name: str, target: Path, budget: Budget, label: str) -> bool:
    """Copy the regular file ``name`` of the folder ``folder_fd`` to ``target`` within ``budget``;
    ``False`` (and a reason in ``budget.left_out``) when it is left out."""
    reason = bad_name(name)
    if reason is None:
        try:
            info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
                raise UnsafeFile(_kind(info))
            budget.take(info.st_size, label)
            data = read_regular(name, budget.bytes + info.st_size, dir_fd=folder_fd)
            budget.bytes -= len(data) - info.st_size
            _write_new(target, data)
            return True
        except UnsafeFile as error:
            reason = str(error)
        except OSError as error:
            reason = f"it cannot be read ({error.strerror})"
    budget.left_out.append(f"{label} left out: {reason}")
    return False


def open_folder(path: Path) -> int:
    """A descriptor of the folder ``path``, not followed if it is a link."""
    return os.open(path, _DIRECTORY)


def _kind(info: os.stat_result) -> str:
    mode = info.st_mode
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return f"it is {what}; only regular files are read"
    if stat.S_ISREG(mode) and info.st_nlink > 1:
        return f"it has {info.st_nlink} hard links; only files with one name are read"
    return "it is not a regular file"


def copy_tree(source: Path, target: Path, budget: Budget, label: str, depth: int = 0) -> None:
    """Copy the folder ``source`` (not followed if a link) to ``target`` (created), file by file within
    ``budget``, iteratively (a deep chain cannot exhaust the stack); ``depth`` is how deep ``source``
    already lies in the submission."""
    root_fd = open_folder(source)
    try:
        pending: list[tuple[str, ...]] = [()]
        while pending:
            parts = pending.pop()
            if depth + len(parts) > MAX_DEPTH:
                raise TooLarge(f"its folders are nested more than {MAX_DEPTH} deep")
            (target.joinpath(*parts)).mkdir(parents=not parts, exist_ok=not parts)
            fd = _descend(root_fd, parts)
            try:
                with os.scandir(fd) as listing:
                    names = []
                    for entry in listing:
                        budget.entries -= 1
                        if budget.entries < 0:
                            raise TooLarge(f"it holds more than {MAX_ENTRIES} names")
                        names.append(entry.name)
                for name in sorted(names):
                    where = "/".join((label, *parts, shown(name)))
                    if name in SKIPPED or name.endswith(".pyc"):
                        continue
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode) and bad_name(name) is None:
                        pending.append((*parts, name))
                    else:
                        copy_file(fd, name, target.joinpath(*parts, name), budget, where)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


class BadZip(ValueError):
    """The zip cannot be unpacked as it is (a member twice, a name both a file and a folder, a
    compression or encryption the reader does not support, damaged data): one line saying which."""


def extract_zip(archive: Path, target: Path, budget: Budget) -> None:
    """Unpack ``archive`` into ``target`` within ``budget``: a member whose name is unsafe refuses the
    zip (:class:`TooLarge` is not the reason: ``ValueError``), as does one it cannot unpack
    (:class:`BadZip`); links and special files are left out."""
    try:
        _extract_zip(archive, target, budget)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error,
            struct.error, OverflowError) as error:   # what the zip library raises on data it cannot read
        raise BadZip(f"it is not a zip file the grader can unpack ({clean_text(str(error), 200, newlines=False)})") \
            from None


def _extract_zip(archive: Path, target: Path, budget: Budget) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if len(members) > MAX_FILES:
            raise TooLarge(f"it holds {len(members)} files; at most {MAX_FILES} are accepted")
        files: set[PurePosixPath] = set()
        folders: set[PurePosixPath] = set()
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in member.filename or "\0" in member.filename:
                raise ValueError(f"it contains an unsafe path: {shown_name(member.filename)}")
            if len(name.parts) > MAX_DEPTH + 1:
                raise TooLarge(f"its folders are nested more than {MAX_DEPTH} deep")
            if any(part in SKIPPED for part in name.parts) or member.filename.endswith(".pyc"):
                continue
            parents = set(name.parents) - {PurePosixPath(".")}
            if name in files or (not member.is_dir() and name in folders) or parents & files:
                raise BadZip(f"it holds {shown_name(member.filename)} twice (or as a file and a folder); "
                             f"make the zip again from your folder")
            folders |= parents
            mode = member.external_attr >> 16
            if member.is_dir():
                folders.add(name)
                (target / name).mkdir(parents=True, exist_ok=True)
                continue
            files.add(name)
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                budget.left_out.append(f"{member.filename} left out: {_kind(os.stat_result((mode,) + (1,) * 9))}")
                continue
            budget.take(member.file_size, member.filename)
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as stream:
                data = stream.read(budget.bytes + member.file_size + 1)
            if len(data) > budget.bytes + member.file_size:
                raise TooLarge(f"it unpacks to more than {MAX_BYTES // 2**20} MB")
            budget.bytes -= len(data) - member.file_size
            _write_new(target / name, data)


# Characters a report never shows from a student or a worker: C0 and C1 controls and DEL (terminal escapes,
# carriage returns that overwrite a line, bells, NULs), and the bidirectional overrides and isolates that
# reorder what a terminal or a browser draws.
_HIDDEN = {code: None for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                                   *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]}
_KEPT = {ord("\n"): "\n", ord("\t"): "    "}


def clean_text(text: object, limit: int, newlines: bool = True) -> str:
    """``text`` as a report may show it: at most ``limit`` characters (and a note of how many were cut),
    without control characters (tabs become spaces; line breaks are kept with ``newlines``, else spaces).
    Linear in ``limit``: the rest of a long text is never looked at. Every string that came from a
    student or a worker passes here before it enters a report."""
    text = text if isinstance(text, str) else str(text)
    cut = len(text) - limit
    table = {**_HIDDEN, **_KEPT} if newlines else {**_HIDDEN, ord("\n"): " ", ord("\t"): " "}
    shown = text[:limit].translate(table)
    return shown + (f" ... ({cut} more characters)" if cut > 0 else "")


def shown_name(name: str) -> str:
    """A name from a zip or a folder for a one-line message: quoted, cleaned and at most 120 characters."""
    return repr(clean_text(name, 120, newlines=False))
