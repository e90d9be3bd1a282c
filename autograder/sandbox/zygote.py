"""Warm workers: a zygote per set of libraries, and the process handle of a worker forked from one.

Importing torch, transformers and peft, and the first use of their kernels, took most of each torch
part's time, paid again by every worker and every restart. A :class:`Zygote` is a fork server
(:mod:`.zygote_server`) that pays it once per grading process (or once per class, see
:data:`SHARED_ENV`), before any student code exists, and forks a fresh worker per launch that then goes
through the launcher's own steps (namespaces, hidden paths, uid, capabilities, ``no_new_privs``,
limits), exactly as a cold launch does. Nothing of one worker reaches another: each is a new fork of
the untouched server. A part names the libraries to pre-import (``warm`` in ``course.yml``); parts
naming the same ones share a zygote. ``LORA_COURSE_WARM=0`` turns warm workers off (cold launches).

When a zygote cannot be reached (it failed to start, or died) the launch is cold, never lost.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "zygote_server.py"
SHARED_ENV = "LORA_COURSE_ZYGOTES"   # a folder of running zygotes' sockets, shared by a class's grades
SWITCH_ENV = "LORA_COURSE_WARM"
READY_SECONDS = 180                  # how long a launch waits for a zygote still importing


class ZygoteUnavailable(Exception):
    """The zygote could not fork a worker; the caller launches cold."""


class ForkedProcess:
    """A worker forked by a zygote, with what :mod:`autograder.sandbox` uses of ``subprocess.Popen``:
    ``pid``, ``stdout``, ``returncode``, ``wait``, ``terminate``. Signals go through a pidfd, so they
    reach that process only; its exit code comes from the zygote, which reaps it."""

    def __init__(self, connection: socket.socket, pid: int, pidfd: int, stdout, waited: float) -> None:
        self.connection, self.pid, self.pidfd, self.stdout = connection, pid, pidfd, stdout
        self.returncode: int | None = None
        self.waited = waited          # seconds spent waiting for the zygote (not the worker's time)
        self._pending = b""

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            chunk = b""
            if b"\n" not in self._pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not select.select([self.connection], [], [], left)[0]:
                    raise subprocess.TimeoutExpired("forked worker", timeout)
                chunk = self.connection.recv(64)
                self._pending += chunk
            if b"\n" in self._pending or not chunk:   # (an empty chunk: the connection closed)
                line = self._pending.split(b"\n", 1)[0]
                # no reply: the zygote died, and its children with it
                self.returncode = int(line) if line.strip().lstrip(b"-").isdigit() else -signal.SIGKILL
                self.connection.close()
                os.close(self.pidfd)
        return self.returncode

    def _signal(self, number: int) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, number)
            except (ProcessLookupError, OSError):
                pass

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """The launcher process; the worker's PID namespace, and its session (the zygote kills what is
        left in it when it reaps the launcher), go with it."""
        self._signal(signal.SIGKILL)


class Zygote:
    """A fork server with ``libraries`` imported and warmed up, started at once and ready a few
    seconds later; :meth:`launch` waits for it. ``path``: reach one already running there instead."""

    def __init__(self, libraries: tuple[str, ...], path: Path | None = None) -> None:
        self.libraries = libraries
        self.process: subprocess.Popen | None = None
        self.folder: str | None = None
        if path is not None:
            self.path = path
            return
        self.folder = private_folder()
        self.path = Path(self.folder) / "socket"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-W", "ignore::FutureWarning", "-W", "ignore::DeprecationWarning", str(SERVER),
                 str(listener.fileno()), *libraries],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(listener.fileno(),),
                env=base_environment(), cwd=self.folder, start_new_session=True)
        finally:
            listener.close()

    def launch(self, config: dict) -> ForkedProcess:
        """Fork a worker for ``config`` (a launcher configuration); raises :class:`ZygoteUnavailable`."""
        started = time.monotonic()
        output_read, output_write = os.pipe()
        config_read, config_write = os.pipe()
        report_write = config["report_fd"]
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(READY_SECONDS)
            connection.connect(str(self.path))
            socket.send_fds(connection, [b"L"], [output_write, report_write, config_read])
            reply, fds, _, _ = socket.recv_fds(connection, 64, 1)
            reply, _, rest = reply.partition(b"\n")   # a worker that ended at once: its exit code came too
            if not fds or not reply.strip().isdigit():
                for number in fds:
                    os.close(number)
                raise ZygoteUnavailable("the zygote did not fork")
        except (OSError, ZygoteUnavailable) as error:
            connection.close()
            os.close(output_read)
            raise ZygoteUnavailable(str(error)) from None
        finally:
            for number in (output_write, config_read):
                os.close(number)
        connection.settimeout(None)
        process = ForkedProcess(connection, int(reply), fds[0], os.fdopen(output_read, "rb"),
                                waited=time.monotonic() - started)
        process._pending = rest
        try:   # the child reads it to the end; a file object writes it whole, past a pipe's buffer
            with os.fdopen(config_write, "wb") as stream:
                stream.write(json.dumps(config).encode())
        except OSError:
            pass
        return process

    def close(self) -> None:
        if self.process is not None:
            try:
                self.process.stdin.close()      # the server kills its workers and ends
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
            self.process = None
        if self.folder is not None:
            for leftover in (self.path, Path(self.folder)):
                try:
                    leftover.rmdir() if leftover.is_dir() else leftover.unlink()
                except OSError:
                    pass
            self.folder = None


def private_folder() -> str:
    """A new folder of mode 700 for a zygote's socket (only the grading user may connect: the zygote
    forks as that user), in the course cache, not the temporary folder a grade must leave as it found
    it; the temporary folder where the cache cannot be written."""
    from .. import course_cache

    try:
        base = course_cache() / "zygotes"
        base.mkdir(parents=True, exist_ok=True)
        _remove_stale(base)
        folder = tempfile.mkdtemp(prefix="", dir=base)
        if len(folder) < 90:   # a socket's path is at most 107 bytes
            return folder
        os.rmdir(folder)
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="lora-zygote-")


STALE_SECONDS = 600


def _remove_stale(base: Path) -> None:
    """Folders of zygotes whose grading process was killed (nothing listens on their socket any more),
    older than :data:`STALE_SECONDS` so that one still being set up is never taken."""
    from ..core.cleanup import remove_tree

    for folder in base.iterdir():
        try:
            if time.time() - folder.lstat().st_mtime < STALE_SECONDS:
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(folder / "socket"))
        except (ConnectionRefusedError, FileNotFoundError):
            remove_tree(folder)
        except OSError:
            continue


def base_environment() -> dict[str, str]:
    """The environment a zygote imports its libraries in: the workers' fixed settings (threads, offline
    Hub, no progress bars), and pyarrow's allocator the system's. Paths libraries read at import (the
    Hub's cache) lead to the worker's own ``/dev/shm``; a worker gets its own ``HOME`` and ``TMPDIR``
    when forked."""
    from .policy import worker_environment

    # pyarrow (datasets) would reserve 1.1 GB of address space for its own allocator, which every forked
    # worker would inherit against its address-space limit; with the system's allocator it reserves none
    return {**worker_environment(Path("/dev/shm")), "ARROW_DEFAULT_MEMORY_POOL": "system"}


_zygotes: dict[tuple[str, ...], Zygote] = {}
_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1") != "0"


def socket_name(libraries: tuple[str, ...]) -> str:
    return "-".join(libraries) + ".socket"


def for_libraries(libraries: tuple[str, ...]) -> Zygote | None:
    """This process's zygote for ``libraries`` (started on first use, ended at exit), or the class's
    shared one (:data:`SHARED_ENV`); ``None`` when warm workers are off or no libraries are named."""
    if not libraries or not enabled():
        return None
    libraries = tuple(sorted(libraries))
    with _lock:
        if libraries not in _zygotes:
            shared = os.environ.get(SHARED_ENV)
            path = Path(shared) / socket_name(libraries) if shared else None
            try:
                _zygotes[libraries] = Zygote(libraries, path if path is not None and path.is_socket() else None)
            except OSError:   # no zygote (no socket could be made, no process started): cold launches
                return None
        return _zygotes[libraries]


def start_shared(folder: Path, sets: list[tuple[str, ...]]) -> list[Zygote]:
    """Start a zygote for each set of libraries with its socket in ``folder`` (for :data:`SHARED_ENV`)."""
    started = []
    for libraries in {tuple(sorted(names)) for names in sets if names}:
        zygote = for_libraries(libraries)
        if zygote is not None:
            (folder / socket_name(libraries)).symlink_to(zygote.path)
            started.append(zygote)
    return started


def forget(closed: list[Zygote]) -> None:
    """Drop closed zygotes from this process's table (a later launch starts a new one)."""
    with _lock:
        for libraries in [key for key, value in _zygotes.items() if value in closed]:
            del _zygotes[libraries]


@atexit.register
def close_all() -> None:
    with _lock:
        for zygote in _zygotes.values():
            zygote.close()
        _zygotes.clear()
