"""The grading process reads submissions and worker results without being led or flooded (issue 14):
one safe reader (autograder.core.untrusted, transport.read_regular), bounded JSON, cleanup that cannot fail."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from autograder.core.cleanup import remove_tree
from autograder.runtime import transport
from autograder.engine.submission import SubmissionError, open_submission


def submission(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "submission"
    (root / "lora_lab").mkdir(parents=True)
    for name, text in {"lora_lab/__init__.py": "", "lora_lab/matmul.py": "X = 1\n", **(files or {})}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_links_devices_fifos_sockets_and_hard_links_are_left_out_with_a_reason(tmp_path):
    secret = tmp_path / "master.ipynb"
    secret.write_text('{"secret": 1}')
    root = submission(tmp_path, {"lora_lab/data.txt": "x"})
    (root / "lecture.ipynb").symlink_to(secret)
    (root / "zero.ipynb").symlink_to("/dev/zero")
    os.mkfifo(root / "lora_lab" / "pipe.py")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(root / "lora_lab" / "listen.sock"))
    os.link(root / "lora_lab" / "data.txt", root / "lora_lab" / "again.txt")
    (root / "lora_lab" / "up").symlink_to(tmp_path)
    started = time.monotonic()
    with open_submission(root, "lora_lab") as opened:
        copied = sorted(path.relative_to(opened.root).as_posix() for path in opened.root.rglob("*"))
        problems = "\n".join(opened.problems)
    assert time.monotonic() - started < 5
    assert copied == ["lora_lab", "lora_lab/__init__.py", "lora_lab/matmul.py"]
    for line in ("lecture.ipynb left out: it is a symbolic link", "zero.ipynb left out: it is a symbolic link", "lora_lab/pipe.py left out: it is a FIFO",
                 "lora_lab/listen.sock left out: it is a socket", "lora_lab/again.txt left out: it has 2 hard links",
                 "lora_lab/data.txt left out: it has 2 hard links", "lora_lab/up left out: it is a symbolic link"):
        assert line in problems
    assert len(opened.problems) == 7 and all("\n" not in problem for problem in opened.problems)


def test_a_sparse_gigabyte_is_refused_from_its_size_without_being_copied(tmp_path):
    root = submission(tmp_path)
    with open(root / "lora_lab" / "weights.bin", "wb") as handle:
        handle.truncate(1 << 30)
    started = time.monotonic()
    with pytest.raises(SubmissionError, match="more than 64 MB") as error:
        with open_submission(root, "lora_lab"):
            pass
    assert time.monotonic() - started < 2 and "\n" not in str(error.value)


def test_folders_have_the_limits_of_zips(tmp_path):
    many = submission(tmp_path / "many", {f"lora_lab/data/{index}.txt": "x" for index in range(2001)})
    with pytest.raises(SubmissionError, match="more than 2000 files"):
        with open_submission(many, "lora_lab"):
            pass
    deep = submission(tmp_path / "deep", {"lora_lab/" + "d/" * 20 + "x.py": ""})
    with pytest.raises(SubmissionError, match="nested more than 16 deep"):
        with open_submission(deep, "lora_lab"):
            pass


def test_names_that_are_not_utf8_are_left_out_and_do_not_crash_hashing(tmp_path):
    root = submission(tmp_path)
    (root / "lora_lab" / os.fsdecode(b"helpers-\xff.py")).write_text("VALUE = 1\n")
    with open_submission(root, "lora_lab") as opened:
        assert opened.problems == ("lora_lab/helpers-\\xff.py left out: its name is not valid UTF-8",)
        assert len(opened.digest) == 64
    archive = tmp_path / "bad-name.zip"
    with zipfile.ZipFile(archive, "w") as bundle:  # a name zipfile marks as UTF-8 ...
        bundle.writestr("lora_lab/__init__.py", "")
        bundle.writestr("lora_lab/\u00e9.py", "")
    archive.write_bytes(archive.read_bytes().replace("\u00e9".encode(), b"\xff\xfe"))  # ... that is not
    with pytest.raises(SubmissionError, match="not valid UTF-8") as error:
        with open_submission(archive, "lora_lab"):
            pass
    assert "\n" not in str(error.value)


def test_the_digest_covers_every_file_the_grader_reads(tmp_path):
    root = submission(tmp_path, {"lora_lab/chat.html": "<p>one</p>", "lecture.ipynb": "{}"})

    def digest() -> str:
        with open_submission(root, "lora_lab") as opened:
            return opened.digest

    first = digest()
    (root / "lora_lab" / "chat.html").write_text("<p>two</p>")
    second = digest()
    (root / "lecture.ipynb").write_text('{"cells": []}')
    third = digest()
    (root / "lora_lab" / "answers.json").write_text("[1]")
    assert len({first, second, third, digest()}) == 4


def test_zips_keep_their_limits_and_leave_out_links(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("lora_lab/__init__.py", "")
        link = zipfile.ZipInfo("lecture.ipynb")
        link.external_attr = (0o120777 << 16)
        bundle.writestr(link, "/dev/zero")
    with open_submission(archive, "lora_lab") as opened:  # left out, as in a folder
        assert opened.problems == ("lecture.ipynb left out: it is a symbolic link; only regular files are read",)
        assert not (opened.root / "lecture.ipynb").exists()
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("lora_lab/__init__.py", "")
        bundle.writestr("lora_lab/zeros.bin", b"\0" * (65 * 2**20))
    with pytest.raises(SubmissionError, match="more than 64 MB"):
        with open_submission(bomb, "lora_lab"):
            pass


def test_results_are_read_once_per_name_within_a_budget_and_scanned_before_parsing(tmp_path):
    (tmp_path / "one.json").write_text("[1]")
    os.link(tmp_path / "one.json", tmp_path / "two.json")
    with pytest.raises(transport.UnsafeFile, match="2 hard links"):
        transport.read(tmp_path / "two")
    (tmp_path / "lists.json").write_bytes(b"[" + b"[]," * 2_000_000 + b"[]]")
    started = time.monotonic()
    with pytest.raises(transport.TransportError, match="JSON items exceeds the limit"):
        transport.read(tmp_path / "lists")
    assert time.monotonic() - started < 2
    (tmp_path / "deep.json").write_text("[" * 40 + "]" * 40)
    with pytest.raises(transport.TransportError, match="nested 40 levels deep"):
        transport.read(tmp_path / "deep")
    (tmp_path / "text.json").write_text(json.dumps({"ok": True, "value": "[[[[" * 20}))
    assert transport.read(tmp_path / "text")["value"].startswith("[[[[")  # brackets in strings do not count
    budget = transport.Budget(max_bytes=1000)
    for index in range(3):
        (tmp_path / f"r{index}.json").write_text(json.dumps({"ok": True, "value": "x" * 400}))
    transport.read(tmp_path / "r0", budget=budget)
    transport.read(tmp_path / "r1", budget=budget)
    with pytest.raises(transport.TransportError, match="exceeds the limit"):
        transport.read(tmp_path / "r2", budget=budget)


def test_cleanup_removes_deep_chains_and_unreadable_folders_and_never_raises(tmp_path):
    top = tmp_path / "work"
    (top / "out").mkdir(parents=True)
    here = os.getcwd()
    os.chdir(top / "out")
    try:
        for _ in range(1200):  # deeper than the recursion limit, longer than PATH_MAX
            os.mkdir("d")
            os.chdir("d")
        os.mkfifo("fifo")
        os.symlink("/etc/passwd", "link")
    finally:
        os.chdir(here)
    (top / "locked" / "inner").mkdir(parents=True)
    (top / "locked" / "inner" / "file").write_text("x")
    (top / "locked" / "inner").chmod(0)
    (top / "locked").chmod(0o500)
    (top / "sealed").write_text("x")
    if shutil.which("chattr"):  # immutable, where this file system and user allow it
        subprocess.run(["chattr", "+i", str(top / "sealed")], capture_output=True)
    assert remove_tree(top) == []
    assert not top.exists() and Path("/etc/passwd").exists()
    assert remove_tree(top) == []  # already gone
    (tmp_path / "file").write_text("x")
    assert remove_tree(tmp_path / "file") == [] and not (tmp_path / "file").exists()


def test_a_cgroup_bounds_the_worker_tree_where_one_can_be_made():
    from autograder.sandbox import cgroup

    group = cgroup.create(256, 16)
    if isinstance(group, str):  # the report says why, in one line
        assert "per process only" in group and "\n" not in group
        return
    assert group.describe().startswith(f"cgroup v{group.version} for the whole worker tree: memory 256 MB, 64 tasks")
    assert all(Path(procs).is_file() for procs in group.procs)
    assert group.close() == [] and not any(folder.exists() for folder in group.folders)
    assert not cgroup.leftover_cgroups()


def test_a_cgroup_of_another_grader_with_the_same_pid_is_not_counted_as_ours():
    """Two graders in containers of their own on one host can have the same pid, and both see the host's
    cgroup tree: the cgroups the other one makes are not this one's leftovers."""
    from autograder.sandbox import cgroup

    group = cgroup.create(256, 16)
    if isinstance(group, str):
        pytest.skip(group)
    parent = group.folders[0].parent
    group.close()
    other = parent / f"lora-grade-{os.getpid()}-0"   # as the other grader names its first, by its own pid
    other.mkdir()
    try:
        assert cgroup.leftover_cgroups() == []
    finally:
        other.rmdir()


def test_cgroups_left_by_graders_killed_long_ago_are_removed_and_no_others():
    """A grader killed by a time limit cannot remove its cgroup: the next grader removes it once it is
    empty, old, and its grader is gone; a recent one, a busy one or one of a live grader stays."""
    from autograder.sandbox import cgroup

    group = cgroup.create(256, 16)
    if isinstance(group, str):
        pytest.skip(group)
    parent = group.folders[-1].parent
    group.close()
    child = subprocess.Popen(["true"])   # its pid is then no process's
    child.wait()
    dead = child.pid
    old = time.time() - cgroup.STALE_SECONDS - 60
    stale, recent, alive, busy = (parent / f"lora-grade-{dead}-0", parent / f"lora-grade-{dead}-1",
                                  parent / f"lora-grade-{os.getppid()}-0", parent / f"lora-grade-{dead}-2")
    for folder in (stale, recent, alive, busy):
        folder.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    (busy / "cgroup.procs").write_text(str(sleeper.pid))
    for folder in (stale, alive, busy):
        os.utime(folder, (old, old))
    cgroup._swept.discard(parent)
    try:
        made = cgroup.create(256, 16)
        assert not isinstance(made, str)
        made.close()
        assert not stale.exists() and recent.exists() and alive.exists() and busy.exists()
    finally:   # kills the sleeper and removes what is left, as a grader closes its own groups
        cgroup.WorkerGroup([stale, recent, alive, busy], 1, 0, 0).close()
        sleeper.wait()
