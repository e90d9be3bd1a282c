"""The worker is isolated: it cannot read the solutions or checks, reach the network, or fool the grader."""

from __future__ import annotations

import ast
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from autograder.core.model import ProbeCall
from autograder.runtime import transport
from autograder.sandbox import Limits, copy_worker_code, policy, run_probes
from conftest import ROOT

SPY = '''
import json, os, socket

def relu(matrix):
    seen = {}
    for path in PATHS:
        try:
            with open(path) as handle:
                seen[path] = handle.read(200)
        except OSError as error:
            seen[path] = type(error).__name__
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        seen["network"] = "connected"
    except OSError as error:
        seen["network"] = type(error).__name__
    seen["pid"] = os.getpid()
    return [[json.dumps(seen)]]
'''


@pytest.fixture(params=["cold", "warm"])
def launch(request) -> tuple[str, ...]:
    """Each worker test runs on a cold launch and on a worker forked from a warm zygote (torch imported)."""
    return ("torch",) if request.param == "warm" else ()


def probe_matmul(tmp_path: Path, source: str, calls: list[tuple[str, list]], hide: list[Path] = (),
                 gpu: bool = False, warm: tuple[str, ...] = ()):
    """Run ``call`` probes on a submission whose ``lora_lab/matmul.py`` is ``source`` (``warm``: forked
    from a zygote that imported those libraries)."""
    package = tmp_path / "lora_lab"
    package.mkdir()
    (package / "matmul.py").write_text(source)
    probes = [ProbeCall("call", {"function": name, "args": args}) for name, args in calls]
    report = run_probes(tmp_path, "lora_lab", "matmul", probes, Limits(wall_seconds=20, memory_mb=2048, gpu=gpu),
                        hide=list(hide), warm=warm)
    assert report.warm_launches == (report.launches if warm else 0)
    return report


def test_a_gpu_worker_is_still_limited_in_memory(tmp_path, launch):
    """GPU parts swap the address-space limit for a limit on writable memory; a memory bomb still fails."""
    bomb = "def relu(matrix):\n    hog = bytearray(3 * 1024**3)\n    return matrix\n"
    report = probe_matmul(tmp_path, bomb, [("relu", [[[1.0]]])], gpu=True, warm=launch)
    assert not report.outcomes[0].ok and report.outcomes[0].error["type"] == "MemoryError"


def spy(tmp_path: Path, paths: list[str], warm: tuple[str, ...] = ()) -> dict:
    report = probe_matmul(tmp_path, SPY.replace("PATHS", repr(paths)), [("relu", [[[1.0]]])], hide=hidden(), warm=warm)
    assert report.outcomes[0].ok, report.outcomes[0]
    return json.loads(report.outcomes[0].value["result"][0][0]) | {"isolation": report.isolation}


def hidden() -> list[Path]:
    from autograder.parts import load_course
    from autograder.engine.grading import hidden_paths

    course = load_course(ROOT / "course.yml")
    return hidden_paths(course, course.assignment())


def namespaces_available() -> bool:
    return os.geteuid() == 0 or Path("/proc/sys/user/max_user_namespaces").read_text().strip() != "0"


@pytest.mark.skipif(not namespaces_available(), reason="this kernel gives no namespaces to this user")
def test_worker_cannot_read_solutions_checks_or_course_file(tmp_path, launch):
    secrets = [str(ROOT / "solutions/lora/lora_lab/matmul.py"), str(ROOT / "autograder/parts/matmul/checks.py"),
               str(ROOT / "course.yml"), str(ROOT / "tests/conftest.py")]
    seen = spy(tmp_path, secrets, warm=launch)
    assert seen["isolation"]["namespaces"] and not seen["isolation"]["problems"]
    for path in secrets:
        assert "def " not in seen[path] and "assignments" not in seen[path], f"{path} was readable: {seen[path]!r}"
    assert seen["network"].endswith("Error"), seen["network"]  # no route at all inside the network namespace
    assert seen["pid"] == 1  # its own PID namespace: the grader is invisible to it


WALKER = '''
import json, os, sys

SYSTEM = SYSTEM_FOLDERS

def relu(matrix):
    own = [os.path.dirname(os.getcwd()), sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    own += [entry for entry in sys.path if os.path.isdir(entry)]
    own = [os.path.realpath(path) for path in own]
    mine = lambda path: any(path == folder or path.startswith(folder + "/") for folder in own)
    found, files, walked = [], 0, []
    try:
        entries = os.listdir("/")
    except PermissionError:   # Landlock: not even the names; walk what the grader sees there
        entries = ROOT_ENTRIES
    for entry in sorted(entries):
        if entry in SYSTEM or os.path.islink("/" + entry):
            continue
        walked.append("/" + entry)
        if os.path.isfile("/" + entry) and os.path.getsize("/" + entry):
            found.append("/" + entry)
        for top, dirs, names in os.walk("/" + entry):
            dirs[:] = [d for d in dirs if not mine(os.path.join(top, d))]
            for name in names:
                path = os.path.join(top, name)
                files += 1
                if not mine(path) and not os.path.islink(path):
                    found.append(path)
    return [[json.dumps({"found": found[:20], "count": len(found), "files": files, "walked": walked})]]
'''


@pytest.mark.skipif(not namespaces_available(), reason="this kernel gives no namespaces to this user")
def test_outside_the_system_folders_a_worker_sees_only_its_own_folder_and_its_runtime(tmp_path, launch):
    """An allow-list, not a deny-list: a second checkout of the course in ``/srv`` or ``/work``, a results
    folder on ``/mnt``, the host's ``/old_root``: nothing outside the system folders is visible, wherever
    it lies (CI's clone in ``/check/work`` read a developer's checkout in ``/work``)."""
    from autograder.sandbox.policy import SYSTEM_FOLDERS

    source = WALKER.replace("SYSTEM_FOLDERS", repr(sorted(SYSTEM_FOLDERS))).replace("ROOT_ENTRIES", repr(os.listdir("/")))
    report = probe_matmul(tmp_path, source, [("relu", [[[1.0]]])], hide=hidden(), warm=launch)
    assert report.outcomes[0].ok, report.outcomes[0]
    seen = json.loads(report.outcomes[0].value["result"][0][0])
    assert seen["count"] == 0, seen
    # the walk did reach the covered folders (an empty result is not a walk that saw nothing)
    assert "/tmp" in seen["walked"], seen


def test_probe_runtime_holds_no_expected_answers(tmp_path):
    """The worker's copy of the grader is the runtime and the parts' probes.py, nothing else of a part: no
    check, judge, helper, reference or solution text, and no import that would reach for one."""
    package = tmp_path / policy.WORKER_PACKAGE
    written = copy_worker_code(package)
    names = {path.relative_to(package).as_posix() for path in written}
    probes = {f"parts/{path.parent.name}/probes.py" for path in (ROOT / "autograder" / "parts").glob("*/probes.py")}
    runtime = {f"runtime/{path.name}" for path in (ROOT / "autograder" / "runtime").glob("*.py")}
    inits = {"__init__.py", "parts/__init__.py", *(f"parts/{name.split('/')[1]}/__init__.py" for name in probes)}
    assert probes and names == runtime | probes | inits
    assert all(not (package / name).read_text() for name in inits - runtime)   # written empty
    text = "\n".join(path.read_text() for path in written)
    assert "from autograder" not in text and "import autograder" not in text
    assert "solutions" not in text and "CHECKS" not in text and "Verdict" not in text
    modules = {".".join(Path(name).with_suffix("").parts).removesuffix("__init__").rstrip(".") for name in names}
    for path in written:   # every relative import resolves to a module of the copy
        package_parts = path.relative_to(package).with_suffix("").parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package_parts[:len(package_parts) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
                assert target in modules, (path.name, target)
                assert node.module or all(f"{target}.{alias.name}".lstrip(".") in modules for alias in node.names)
    checks = "\n".join(path.read_text() for path in (ROOT / "autograder" / "parts").glob("*/checks.py"))
    assert 'title = "' in checks and 'title = "' not in text   # a check's text, in no file of the copy


def test_worker_survives_hostile_return_values(tmp_path, launch):
    source = (
        "import torch\n"
        "class Liar(float):\n    def __eq__(self, other):\n        return True\n"
        "class Sneaky(torch.Tensor):\n    pass\n"
        "def relu(m):\n    return [[Liar(123.0)]]\n"
        "def add_bias(m, b):\n    return torch.zeros(2).as_subclass(Sneaky)\n"
        "def matrix_multiply(A, B):\n    return object()\n")
    report = probe_matmul(tmp_path, source, [("relu", [[[1.0]]]), ("add_bias", [[[1.0]], [1.0]]),
                                             ("matrix_multiply", [[[1.0]], [[1.0]]])], warm=launch)
    relu, bias, product = (outcome.value["result"] for outcome in report.outcomes)
    assert relu == [[123.0]] and type(relu[0][0]) is float  # the __eq__ trick is gone
    assert bias == {"__unsupported__": "tensor subclass Sneaky"}
    assert product == {"__unsupported__": "object"}


def test_transport_round_trip_and_validation(tmp_path):
    value = {"a": [1, 2.5, math.inf, None, True, "x"], "t": torch.arange(6.0).reshape(2, 3), "n": (1, 2)}
    transport.write(tmp_path / "v", value)
    back = transport.read(tmp_path / "v")
    assert back["a"] == [1, 2.5, math.inf, None, True, "x"] and back["n"] == [1, 2]
    assert torch.equal(back["t"], value["t"]) and type(back["t"]) is torch.Tensor

    (tmp_path / "bad.json").write_text('{"__tensor__": "t9"}')
    with pytest.raises(transport.TransportError, match="missing tensor"):
        transport.read(tmp_path / "bad")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(transport.TransportError, match="malformed JSON"):
        transport.read(tmp_path / "junk")
    (tmp_path / "big.json").write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(transport.TransportError, match="exceeds the limit"):
        transport.read(tmp_path / "big", max_bytes=100)
    (tmp_path / "pickle.json").write_text('{"__tensor__": "t0"}')
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 40)  # a pickle header, not safetensors
    with pytest.raises(transport.TransportError, match="malformed tensor file"):
        transport.read(tmp_path / "pickle")


def test_forged_outcome_files_are_validated(tmp_path, launch):
    # The student's code overwrites its own result file with garbage after the probe ran.
    source = ("import atexit, pathlib, os\n"
              "def relu(m):\n"
              "    out = pathlib.Path(os.getcwd()).parent / 'out'\n"
              "    atexit.register(lambda: (out / '0000.json').write_text('{\"ok\": \"yes\", \"value\": 1}'))\n"
              "    return [[0.0]]\n")
    report = probe_matmul(tmp_path, source, [("relu", [[[1.0]]])], warm=launch)
    outcome = report.outcomes[0]
    assert not outcome.ok and "could not read the result" in outcome.missing


def test_transport_reads_only_regular_files(tmp_path):
    """A worker may leave a FIFO (a read that never returns) or a link to a file only the grader may read."""
    (tmp_path / "secret.json").write_text('{"ok": true, "value": 1}')
    (tmp_path / "link.json").symlink_to(tmp_path / "secret.json")
    os.mkfifo(tmp_path / "fifo.json")
    for stem in ("link", "fifo"):
        with pytest.raises(transport.TransportError):
            transport.read(tmp_path / stem)


def test_judge_accepts_only_plain_tensors_of_the_right_kind():
    from autograder.core.model import Fail
    from autograder.parts.compare import expect_tensor

    class Agreeable(torch.Tensor):
        pass

    want = torch.ones(2, 2)
    expect_tensor(want.clone(), want, "x")
    expect_tensor(want.double(), want, "x")  # any floating dtype where the reference is floating
    for got, message in ((want.clone().as_subclass(Agreeable), "subclass of torch.Tensor"),
                         (torch.ones(2, 2, dtype=torch.int64), "floating-point"),
                         (torch.full((2, 2), math.inf), "NaN or infinity"), (torch.ones(3), "shape")):
        with pytest.raises(Fail, match=message):
            expect_tensor(got, want, "x")
    with pytest.raises(Fail, match="dtype torch.int64"):
        expect_tensor(torch.ones(2, dtype=torch.int32), torch.ones(2, dtype=torch.int64), "x")


@pytest.mark.skipif(os.geteuid() != 0, reason="the worker changes uid only when the grader runs as root")
def test_as_root_the_worker_runs_unprivileged_in_a_folder_it_cannot_change(tmp_path, launch):
    source = ('import json, os\n'
              'def ls(path):\n'
              '    try:\n'
              '        return os.listdir(path)\n'
              '    except PermissionError:\n'
              '        return "refused"\n'
              'def relu(m):\n'
              '    seen = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),\n'
              '            "tmp": ls("/tmp"), "home": ls(os.path.expanduser("~root"))}\n'
              '    work = os.path.dirname(os.getcwd())\n'
              '    for name, path in (("workdir", os.path.join(work, "x")), ("submission", os.path.join(work, "submission", "lora_lab", "matmul.py")),\n'
              '                       ("shm", "/dev/shm/x"), ("scratch", "x")):\n'
              '        try:\n'
              '            open(path, "a").close()\n'
              '            seen[name] = "written"\n'
              '        except OSError as error:\n'
              '            seen[name] = type(error).__name__\n'
              '    return [[json.dumps(seen)]]\n')
    report = probe_matmul(tmp_path, source, [("relu", [[[1.0]]])], hide=hidden(), warm=launch)
    seen = json.loads(report.outcomes[0].value["result"][0][0])
    assert seen["uid"] == seen["gid"] == report.isolation["uid"] and seen["uid"] >= 1_000_000_000 and not seen["groups"]
    assert seen["workdir"] == seen["submission"] == "PermissionError"
    assert seen["scratch"] == seen["shm"] == "written"  # its own scratch folder and a private /dev/shm
    # no other worker's folder; only the path down to the Python runtime shows where that lives in /tmp
    runtime, temp = Path(sys.prefix).resolve(), Path(tempfile.gettempdir()).resolve()
    through = {runtime.relative_to(temp).parts[0]} if temp in runtime.parents else set()
    others = [name for name in seen["tmp"] if name not in through] if seen["tmp"] != "refused" else []
    # Landlock refuses even the listing of /tmp; without it, the worker sees its own folder alone
    assert seen["tmp"] == "refused" or (len(others) == 1 and others[0].startswith("lora-grade-")), seen["tmp"]
    assert "lora_lab" not in " ".join(seen["home"]) and ".bashrc" not in seen["home"]


def test_probe_names_are_written_once_and_come_from_the_part_folders():
    """The parts a probe may come from are the folders holding a probes.py; a check names a probe by its
    function (the name is derived), so no checks.py spells a probe's or its own check's name out."""
    from autograder.parts.lora import probes
    from autograder.runtime import common
    from autograder.runtime.probes import get_probe, probe_parts

    parts = ROOT / "autograder" / "parts"
    assert probe_parts() == {path.parent.name for path in parts.glob("*/probes.py")} >= {"lora", "service"}
    assert get_probe("lora.forward") is probes.forward and get_probe("call") is common.call
    for name in ("matmul.call", "compare.field", "lora.torch", "lora.F", "lora._await_inputs", "os.system",
                 "transport", "same.__class__"):
        with pytest.raises(KeyError):
            get_probe(name)
    assert ProbeCall(probes.forward).probe == "lora.forward" and ProbeCall(common.call).probe == "call"
    assert ProbeCall("call", bounded=probes.secret_factors).bounded == "lora.secret_factors"
    for checks in parts.glob("*/checks.py"):
        part = checks.parent.name
        strings = {node.value for node in ast.walk(ast.parse(checks.read_text())) if isinstance(node, ast.Constant)
                   and isinstance(node.value, str)}
        assert not {text for text in strings if text.startswith((f"{part}.", f"{part}/"))}, checks
