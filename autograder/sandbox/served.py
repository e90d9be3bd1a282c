"""The grading process as the HTTP client of what a worker serves: plain HTTP/1.1 over a Unix socket that
the worker's probe listens on in ``out/`` (the worker has no network: only ``AF_UNIX`` sockets, made only
in ``out/`` and ``scratch/``).

A call with ``ProbeCall.served`` (``service/api_chat``, ``api_errors``, ``page``) serves the student's app on
``out/NNNN.sock`` and asks, through ``out/NNNN.request`` (the request of :mod:`.bound`), to be queried. The
grading process then connects (:func:`connector`: the socket must be a socket in ``out/``, reached through a
descriptor of that folder that follows no link, and the process that accepts must be one of the worker's),
sends each planned request and reads the answer here (:func:`exchange`): at most :data:`MAX_RESPONSE` bytes,
:data:`REQUEST_SECONDS` per request and :data:`TOTAL_SECONDS` for all, parsed in linear time. What comes
back is the student's server's answer to the grader's request, whatever the worker's code reports.
It imports nothing outside the standard library and the transport's bounded JSON reader.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import time
from typing import Any, Callable

from ..runtime.transport import TransportError, _parse, scan_json

MAX_RESPONSE = 256 * 1024   # bytes of one response, head and body (the reference's page is a few kB)
MAX_HEAD = 16 * 1024        # bytes of the status line and headers
MAX_JSON_ITEMS = 20_000
TEXT_KEPT = 4000            # characters of a body that is not JSON kept for the judge
REQUEST_SECONDS = 30.0      # one request: connect, send, read to the end (a tiny model's reply takes < 1 s)
TOTAL_SECONDS = 90.0        # every request of one call


class ServedError(Exception):
    """The worker's server could not be reached or queried (a reason for the feedback)."""


def _peer_pid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[0]


def connector(folder_fd: int, name: str, worker_pids: Callable[[], set[int]]) -> Callable[[float], socket.socket]:
    """A function that opens a new connection to the socket ``name`` of the folder ``folder_fd`` (``out/``,
    opened without following links): the entry must be a socket, not a link (it is checked before each
    connection, and the connection goes through ``/proc/self/fd``, so a folder swapped meanwhile changes
    nothing), and the process that listens must be one of ``worker_pids()`` (``SO_PEERCRED``), so a link
    placed there between the check and the connection reaches no other server for long: nothing is sent."""
    def connect(timeout: float) -> socket.socket:
        try:
            mode = os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            raise ServedError(f"nothing listens at out/{name}") from None
        if not stat.S_ISSOCK(mode):
            raise ServedError(f"out/{name} is not a socket")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.1, timeout))
            sock.connect(f"/proc/self/fd/{folder_fd}/{name}")
            if _peer_pid(sock) not in worker_pids():
                raise ServedError(f"out/{name} is not served by the process running your code")
        except OSError as error:
            sock.close()
            raise ServedError(f"connecting to out/{name} failed: {error.strerror or type(error).__name__}") from None
        except BaseException:
            sock.close()
            raise
        return sock
    return connect


def request_bytes(method: str, path: str, body: Any = None) -> bytes:
    """One HTTP/1.1 request (``Connection: close``); ``body``, when not ``None``, as JSON."""
    data = b"" if body is None else json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", "Host: grader", "Connection: close", "Accept: */*",
            "User-Agent: lora-course-grader"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + data


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes, at most ``MAX_RESPONSE`` bytes, by ``deadline``."""
    chunks, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ServedError(f"no complete answer within {REQUEST_SECONDS:g} s")
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(65536, MAX_RESPONSE + 1 - size))
        except socket.timeout:
            raise ServedError(f"no complete answer within {REQUEST_SECONDS:g} s") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise ServedError(f"the answer is longer than {MAX_RESPONSE // 1024} kB")


def _dechunk(data: bytes) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (linear: each chunk is read once)."""
    out, at = [], 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0 or end - at > 20:
            raise ServedError("a malformed chunked body")
        try:
            size = int(data[at:end].split(b";")[0].strip(), 16)
        except ValueError:
            raise ServedError("a malformed chunked body") from None
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        at = end + 2 + size + 2
        if at > len(data):
            raise ServedError("a chunked body cut short")


def parse_response(data: bytes) -> dict:
    """``{status, content_type, json, text}`` of a raw HTTP/1.x response: ``json`` the parsed body when it
    is JSON (else ``None``), ``text`` the first :data:`TEXT_KEPT` characters of any other body."""
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator or len(head) > MAX_HEAD:
        raise ServedError("not an HTTP response (no end of headers)")
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") or not (
            len(status_line[1]) == 3 and status_line[1].isdigit()):
        raise ServedError(f"not an HTTP response (status line {lines[0][:60]!r})")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif headers.get("content-length", "").isdigit() and len(headers["content-length"]) < 10:
        body = body[:int(headers["content-length"])]
    content_type = headers.get("content-type", "")[:200]
    parsed = None
    if body.strip()[:1] in (b"{", b"[", b'"') or body.strip() in (b"null", b"true", b"false") or \
            body.strip()[:1].isdigit() or body.strip()[:1] == b"-":
        try:
            scan_json(body, MAX_JSON_ITEMS)
            parsed = _parse(body)
        except TransportError:
            parsed = None
    text = "" if parsed is not None else body.decode("utf-8", "replace")[:TEXT_KEPT]
    return {"status": int(status_line[1]), "content_type": content_type, "json": parsed, "text": text}


def exchange(connect: Callable[[float], socket.socket], calls: list[dict]) -> list[dict]:
    """Each ``{method, path, json}`` of ``calls`` sent on a new connection, in order: one
    ``{status, content_type, json, text, error}`` per call (``error``: why there is no answer, else ``""``;
    then ``status`` is 0). Never raises for anything the server does."""
    answers, deadline = [], time.monotonic() + TOTAL_SECONDS
    for call in calls:
        started = time.monotonic()
        until = min(deadline, started + REQUEST_SECONDS)
        try:
            if until <= started:
                raise ServedError(f"no time left: the requests took more than {TOTAL_SECONDS:g} s")
            with connect(until - started) as sock:
                sock.settimeout(max(0.1, until - time.monotonic()))
                sock.sendall(request_bytes(call["method"], call["path"], call.get("json")))
                answer = parse_response(_read_all(sock, until))
            answers.append({**answer, "error": ""})
        except ServedError as error:
            answers.append({"status": 0, "content_type": "", "json": None, "text": "", "error": str(error)[:300]})
        except OSError as error:
            answers.append({"status": 0, "content_type": "", "json": None, "text": "",
                            "error": f"the connection failed: {error.strerror or type(error).__name__}"[:300]})
    return answers
