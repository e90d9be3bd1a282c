"""The grading process is the HTTP client of the app a worker serves on a Unix socket in ``out/``
(``autograder/sandbox/served.py``): what it reads there is bounded in size and time and parsed in linear
time, and it talks only to a socket of that folder served by the worker (tests/exploits/
service_http_answers_claimed.py grades the whole attack: a probe that serves nothing and reports answers)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from autograder.sandbox import served
from autograder.sandbox.served import ServedError, connector, exchange, parse_response

GET = [{"method": "GET", "path": "/healthz", "json": None}]


def serve(folder: Path, answer: Callable[[socket.socket], None], name: str = "0000.sock") -> Callable[[], None]:
    """A server on ``folder/name`` (in this process) that hands each connection to ``answer``; returns stop."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / name))
    listener.listen(4)
    listener.settimeout(0.1)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    connection.recv(65536)
                    answer(connection)
                except OSError:
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(timeout=5)
        listener.close()
    return close


def ask(folder: Path, calls=GET, pids: Callable[[], set[int]] = lambda: {os.getpid()}, name: str = "0000.sock") -> list[dict]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return exchange(connector(fd, name, pids), calls)
    finally:
        os.close(fd)


def test_an_answer_is_read_and_parsed_in_the_grading_process(tmp_path):
    stop = serve(tmp_path, lambda c: c.sendall(b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\n"
                                                b"content-length: 17\r\n\r\n{\"error\": \"long\"}"))
    try:
        [answer] = ask(tmp_path)
    finally:
        stop()
    assert answer == {"status": 413, "content_type": "application/json", "json": {"error": "long"}, "text": "", "error": ""}


def test_a_chunked_page_is_read_whole(tmp_path):
    stop = serve(tmp_path, lambda c: c.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ntransfer-encoding: chunked"
                                                b"\r\n\r\n6\r\n<html>\r\n7\r\n</html>\r\n0\r\n\r\n"))
    try:
        [answer] = ask(tmp_path)
    finally:
        stop()
    assert (answer["status"], answer["text"], answer["json"]) == (200, "<html></html>", None)


def test_an_endless_answer_is_cut_at_the_cap(tmp_path):
    def flood(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        for _ in range(64):
            connection.sendall(b"x" * 65536)
    stop = serve(tmp_path, flood)
    try:
        [answer] = ask(tmp_path)
    finally:
        stop()
    assert answer["status"] == 0 and "longer than" in answer["error"]


def test_a_server_that_never_answers_costs_the_request_time_limit_only(tmp_path, monkeypatch):
    monkeypatch.setattr(served, "REQUEST_SECONDS", 0.5)
    monkeypatch.setattr(served, "TOTAL_SECONDS", 1.2)
    stop = serve(tmp_path, lambda c: time.sleep(3))
    started = time.monotonic()
    try:
        answers = ask(tmp_path, GET * 4)
        elapsed = time.monotonic() - started
    finally:
        stop()
    assert elapsed < 2.5
    assert all(answer["status"] == 0 and answer["error"] for answer in answers)


@pytest.mark.parametrize("data", [b"garbage", b"HTTP/1.1 2000 OK\r\n\r\n", b"SSH-2.0\r\n\r\n", b"",
                                  b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"])
def test_hostile_bytes_are_no_answer(data):
    with pytest.raises(ServedError):
        parse_response(data)


def test_deep_or_huge_json_is_text_not_a_parse(tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = parse_response(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + deep)
    assert answer["json"] is None and len(answer["text"]) == served.TEXT_KEPT
    big = parse_response(b"HTTP/1.1 200 OK\r\n\r\n[" + b"1" * 500 + b"]")
    assert big["json"] is None


def test_a_link_in_out_reaches_no_other_server(tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (tmp_path / "out").mkdir()
    stop = serve(other, lambda c: c.sendall(b"HTTP/1.1 200 OK\r\n\r\n{}"))
    try:
        (tmp_path / "out" / "0000.sock").symlink_to(other / "0000.sock")
        [answer] = ask(tmp_path / "out")
    finally:
        stop()
    assert answer["status"] == 0 and "not a socket" in answer["error"]


def test_a_socket_served_by_another_process_gets_no_request(tmp_path):
    received = []
    stop = serve(tmp_path, lambda c: received.append(c.recv(100)))
    try:
        [answer] = ask(tmp_path, pids=lambda: {os.getpid() + 1_000_000})
    finally:
        stop()
    assert answer["status"] == 0 and "not served by the process running your code" in answer["error"]
    assert received in ([], [b""])
