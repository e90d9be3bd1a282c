"""`course grade-all --backend slurm` on a real Slurm: a single-node cluster started for these tests.

`.ci/slurm-cluster` starts munged, slurmctld and slurmd from Debian's `munge` and `slurm-wlm` packages
with every file in a temporary folder (as root; about a second), and stops them afterwards. The node
declares a `gpu` generic resource backed by /dev/null, so GPU tasks are scheduled, and has no CUDA:
they must say the GPU checks were not run. Accounting is off, as in many test clusters, so the backend
learns how tasks ended from their exit files, `squeue` and `scontrol`. Without the packages (or root)
the tests skip, except in CI, where they fail.

Every grade is real and restricted to parts matmul and linear, so that each submission takes seconds;
the class runs take minutes and are `slow` (CI runs them with `make test-slow`).
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder.commands.audit import apply_patch
from autograder.commands.boot import cli_command
from autograder.commands.slurm import partial, write_script
from conftest import ROOT, course_cli, make_submission, write_course

REFERENCE = ROOT / "solutions" / "lora"
STUBS = ROOT / "assignments" / "lora"
PARTS = ("--part", "matmul", "--part", "linear")
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node cluster; ``SLURM_CONF`` points at it for every command of these tests."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    why = (f"Slurm is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge" if missing else
           "a test cluster needs root (slurmd starts jobs as their users)" if os.geteuid() != 0 else None)
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Slurm tests: {why}")
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("slurm-cluster")
    started = subprocess.run([str(ROOT / ".ci" / "slurm-cluster"), "start", str(folder)], capture_output=True,
                             text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(folder / "slurm.conf"))
            yield folder
    finally:
        subprocess.run([str(ROOT / ".ci" / "slurm-cluster"), "stop", str(folder)], timeout=60)


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((folder / "lora_lab").glob("*.py")):
            bundle.write(path, f"work/lora_lab/{path.name}")
    return archive


def mutant(name: str) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location(name, next((ROOT / "tests" / "parts").glob(f"*/mutants/{name}.py")))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = (REFERENCE / "lora_lab" / f"{module.MODULE}.py").read_text()
    return {f"{module.MODULE}.py": apply_patch(source, module.PATCH, name)}


@pytest.fixture(scope="module")
def a_class(tmp_path_factory) -> Path:
    """The reference, the stubs (a zip), a mutant, one that crashes at import, a broken zip, and one
    that hangs forever at import (the sandbox stops it at the part's time budget)."""
    folder = tmp_path_factory.mktemp("class") / "class"
    make_submission(REFERENCE, folder / "ada")
    zip_folder(STUBS, folder / "bo.zip")
    make_submission(REFERENCE, folder / "cy", mutant("linear_forward_no_bias"))
    make_submission(REFERENCE, folder / "dee", {"matmul.py": "import os\nos._exit(3)\n"})
    (folder / "eve.zip").write_bytes(b"this is not a zip")
    make_submission(REFERENCE, folder / "fay", {"matmul.py": "while True:\n    pass\n"})
    return folder


def rows(path: Path) -> dict[str, dict[str, str]]:
    """The gradebook by submission, without the seconds each took (the only column that may differ)."""
    with path.open(newline="") as handle:
        return {row["submission"]: {key: value for key, value in row.items() if key != "seconds"}
                for row in csv.DictReader(handle)}


def timed(*args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = course_cli(*args, timeout=timeout)
    return result, time.monotonic() - started


@pytest.mark.slow   # six submissions graded twice (about 2 minutes on 2 cores): CI runs it with `make test-slow`
def test_a_class_graded_through_slurm_gets_the_local_gradebook(slurm, a_class, tmp_path):
    local, local_seconds = timed("grade-all", str(a_class), "--out", str(tmp_path / "local" / "gradebook.csv"),
                                 "--jobs", "2", *PARTS)
    assert local.returncode == 0, local.stderr[-3000:]
    # one CPU each: two tasks at once on the two cores, as --jobs 2
    cluster, cluster_seconds = timed("grade-all", str(a_class), "--out", str(tmp_path / "slurm" / "gradebook.csv"),
                                     "--backend", "slurm", "--cpus-per-task", "1", "--mem", "4G", *PARTS)
    assert cluster.returncode == 0, cluster.stderr[-3000:]
    assert "Traceback" not in cluster.stderr
    print(f"\nlocal --jobs 2: {local_seconds:.1f} s; slurm, 2 CPUs: {cluster_seconds:.1f} s")
    assert "submitted the cpu tier of 6 submissions as Slurm job array" in cluster.stderr
    assert "RUNNING" in cluster.stderr   # a line per change of a task's state where stderr is no terminal
    assert "graded 6 submissions (1 could not be graded)" in cluster.stdout
    book = rows(tmp_path / "slurm" / "gradebook.csv")
    assert book == rows(tmp_path / "local" / "gradebook.csv")
    assert [(name, row["total"]) for name, row in book.items()] == \
        [("ada", "20"), ("bo", "0"), ("cy", "15"), ("dee", "10"), ("eve", "0"), ("fay", "10")]
    assert "not a valid .zip" in book["eve"]["error"]
    local_ada = json.loads((tmp_path / "local" / "gradebook-results" / "ada.json").read_text())
    slurm_ada = json.loads((tmp_path / "slurm" / "gradebook-results" / "ada.json").read_text())
    assert [(t["name"], t["score"]) for t in slurm_ada["tests"]] == [(t["name"], t["score"]) for t in local_ada["tests"]]
    # the same grade; only how it was scheduled may differ (parts at once: --jobs here, the task's CPUs there)
    def decided(provenance: dict) -> dict:
        return {key: value for key, value in provenance.items() if key != "resources"}
    assert decided(slurm_ada["extra_data"]["provenance"]) == decided(local_ada["extra_data"]["provenance"])
    hung = json.loads((tmp_path / "slurm" / "gradebook-results" / "fay.json").read_text())
    assert "time budget" in hung["output"]   # the sandbox applied inside the task

    again = course_cli("grade-all", str(a_class), "--out", str(tmp_path / "slurm" / "gradebook.csv"),
                       "--backend", "slurm", *PARTS)
    assert again.returncode == 0 and "graded 0 submissions" in again.stdout and "kept 6" in again.stdout
    assert "submitted" not in again.stderr


def test_gpu_tasks_are_scheduled_and_say_honestly_that_the_node_has_no_cuda(slurm, tmp_path):
    def square_on_gpu(data: dict) -> None:   # matmul/square (2 points) as a GPU check, like test_gpu_tier
        lora = data["assignments"]["lora"]
        lora["parts"] = lora["parts"][:1]
        lora["parts"][0]["checks"][0]["gpu"] = True

    course = write_course(tmp_path / "course", square_on_gpu)
    folder = tmp_path / "class"
    make_submission(REFERENCE, folder / "ada")
    out = tmp_path / "book" / "gradebook.csv"
    result = course_cli("--course", str(course), "grade-all", str(folder), "--out", str(out), "--backend", "slurm",
                        "--gpu-partition", "gpu", "--cpus-per-task", "1", "--mem", "2G")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "submitted the gpu tier of 1 submissions" in result.stderr
    data = json.loads((tmp_path / "book" / "gradebook-results" / "ada.json").read_text())
    square = next(test for test in data["tests"] if test["name"] == "matmul/square")
    assert "status" not in square and square["max_score"] == 0   # not run, left out of max_score
    assert (data["score"], data["max_score"]) == (8, 8)
    # the reason is the staff's (the GPU tier's stderr), never a student's message
    gpu_tier = data["extra_data"]["gpu_tier"]
    assert "no CUDA device" in "\n".join(gpu_tier.get("staff", [])), gpu_tier
    assert "GPU checks not run" in result.stderr and "no CUDA device" in result.stderr
    local = course_cli("--course", str(course), "grade-all", str(folder), "--out", str(tmp_path / "local.csv"))
    assert local.returncode == 0 and rows(out) == rows(tmp_path / "local.csv")


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def queue() -> list[str]:
    return subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True).stdout.split()


def start_driver(command: list[str]) -> tuple[subprocess.Popen, str, list[str]]:
    """Start ``grade-all`` and read its log until it names the job array it submitted: ``(driver, job id,
    lines read)``: the test acts on that array, as its driver reports it, never on what it polls. The driver
    gets SIGINT's default action, as in a terminal: a suite started in the background by a shell without job
    control inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    line = read_until(driver, " as Slurm job array ", lines := [])
    return driver, line.rsplit(" ", 1)[-1].strip(), lines


def read_until(driver: subprocess.Popen, text: str, lines: list[str]) -> str:
    """Read the driver's log into ``lines`` up to the first line holding ``text``, and return that line."""
    for line in driver.stderr:
        lines.append(line)
        if text in line:
            return line
    raise AssertionError(f"grade-all never logged {text!r}: {''.join(lines)[-3000:]}")


@pytest.mark.slow   # three runs of a small class (about a minute)
def test_a_cancelled_task_is_a_row_with_the_reason_and_ctrl_c_cancels_the_arrays(slurm, tmp_path):
    folder = tmp_path / "class"
    make_submission(REFERENCE, folder / "ada")
    for name in ("hal", "ivy"):   # each takes the matmul part's whole time budget (10 s)
        make_submission(REFERENCE, folder / name, {"matmul.py": "while True:\n    pass\n"})
    out = tmp_path / "book" / "gradebook.csv"
    command = [sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out), "--backend",
               "slurm", "--cpus-per-task", "1", "--part", "matmul"]
    wait_for(lambda: not queue(), seconds=60)   # no task of an earlier test is still on the cluster
    # someone cancels one task (scancel JOB_1): that submission is a row with Slurm's reason
    driver, array, _ = start_driver(command)
    wait_for(lambda: f"{array}_1|RUNNING" in queue())
    subprocess.run(["scancel", f"{array}_1"], check=True)
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr[-3000:]
    book = rows(out)
    assert "was cancelled" in book["hal"]["error"] and book["hal"]["total"] == "0", book["hal"]
    assert book["ada"]["total"] == "10" and book["ivy"]["error"] == ""

    # a rerun submits only the cancelled one; Ctrl-C, once the rerun's own task runs, cancels its array and
    # keeps what finished (CI sent it once too early and once too late while the test polled the queue itself)
    driver, array, lines = start_driver(command)
    read_until(driver, f"task {array}_0): RUNNING", lines)   # as the driver saw it: 10 s of work are left
    driver.send_signal(signal.SIGINT)
    stdout, stderr = driver.communicate(timeout=120)
    stderr = "".join(lines) + stderr
    assert driver.returncode == 130, stderr[-3000:]
    assert "submitted the cpu tier of 1 submissions" in stderr and "cancelled Slurm job arrays" in stderr
    wait_for(lambda: not any(line.startswith(f"{array}_") for line in queue()), seconds=30)   # nothing of it left
    assert rows(out)["ada"] == book["ada"] and rows(out)["ivy"] == book["ivy"]

    finished = course_cli(*command[3:], timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "graded 1 submissions" in finished.stdout and "kept 2" in finished.stdout
    assert rows(out)["hal"]["error"] == "" and rows(out)["hal"]["total"] == "0"


def test_a_grade_that_outlives_its_killed_task_never_writes_the_tasks_results(tmp_path):
    """CI: a rerun found the cancelled task's results graded after all: its grade process outlived the task
    (proctrack/linuxproc lost it) and wrote them after the driver had recorded the cancellation."""
    out, exits = tmp_path / "cpu" / "hal.json", tmp_path / "exit"
    out.parent.mkdir()
    exits.mkdir()
    started = tmp_path / "started"
    straggler = ["bash", "-c", 'touch "$1"; sleep 1; echo \'{"score": 0}\' > "$0"', str(partial(out)), str(started)]
    write_script(tmp_path / "cpu.sh", [["bash", "-c", '"$@" & sleep 60', "grade", *straggler]], [out], exits, "cpu")
    task = subprocess.Popen([str(tmp_path / "cpu.sh")], env={**os.environ, "SLURM_ARRAY_TASK_ID": "0"},
                            start_new_session=True)
    try:
        wait_for(started.exists, seconds=30)
        task.kill()   # Slurm cancels the task: the script dies, the grade (lost by the tracker) goes on
        task.wait()
        wait_for(partial(out).is_file, seconds=30)
        time.sleep(0.5)
        assert not out.exists() and not (exits / "cpu-0").exists()
    finally:
        with contextlib.suppress(ProcessLookupError):   # the rest of the task's group
            os.killpg(task.pid, signal.SIGKILL)

    done = ["bash", "-c", 'echo \'{"score": 10}\' > "$0"', str(partial(out))]
    write_script(tmp_path / "cpu.sh", [done], [out], exits, "cpu")
    subprocess.run([str(tmp_path / "cpu.sh")], env={**os.environ, "SLURM_ARRAY_TASK_ID": "0"}, check=True)
    assert json.loads(out.read_text()) == {"score": 10} and not partial(out).exists()
    assert (exits / "cpu-0").read_text().strip() == "0"


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every living (not zombie) process of this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2] if stat else ("Z", "0")
        if state != "Z":
            found[int(entry.name)] = (int(parent), command)
    return found


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every living process below ``pid``."""
    table, found, todo = processes(), {}, [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, (ppid, _) in table.items() if ppid == parent]
        found.update({child: table[child][1] for child in children})
        todo += children
    return found


def living(pids) -> list[str]:
    table = processes()
    return [table[pid][1] for pid in pids if pid in table]


@pytest.mark.parametrize("warm", ["1", "0"])
def test_a_killed_task_takes_its_grade_and_every_worker_of_the_grade_with_it(tmp_path, warm):
    """A Slurm task killed while its process tracker had lost the grade left that grade running to its
    time budgets, and a cold worker that sleeps ran on past the grade itself."""
    hanging = make_submission(REFERENCE, tmp_path / "class" / "hal", {"lora.py": "import time\ntime.sleep(600)\n"})
    out, exits = tmp_path / "cpu" / "hal.json", tmp_path / "exit"
    out.parent.mkdir()
    exits.mkdir()
    write_script(tmp_path / "cpu.sh", [cli_command("grade", str(hanging), "--out", str(partial(out)), "--part", "lora")],
                 [out], exits, "cpu")
    task = subprocess.Popen([str(tmp_path / "cpu.sh")], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "SLURM_ARRAY_TASK_ID": "0",
                                                            "LORA_COURSE_WARM": warm})
    def worker_started() -> bool:   # the student's module is being imported (and sleeps) in a worker
        table, below = processes(), descendants(task.pid)
        if warm == "0":
            return any("launcher.py" in command for command in below.values())
        return any("zygote_server" in command and "zygote_server" in below.get(table.get(pid, (0, ""))[0], "")
                   for pid, command in below.items())   # a child the zygote forked

    try:
        wait_for(worker_started, seconds=120)
        time.sleep(1)
        tree = descendants(task.pid)
        os.kill(task.pid, signal.SIGKILL)   # the script alone: the tracker lost the rest
        task.wait()
        deadline = time.monotonic() + 10
        while living(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not living(tree), f"still running after their task was killed: {living(tree)}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(task.pid, signal.SIGKILL)


def test_a_grade_whose_parent_has_ended_already_ends_at_once_and_a_bad_pid_is_a_clear_error(tmp_path):
    # the script has exited before the grade it started in the background got to read LORA_COURSE_DIE_WITH
    out = tmp_path / "orphan.json"
    started = subprocess.run(["bash", "-c", 'LORA_COURSE_DIE_WITH=$$ "$@" >/dev/null 2>&1 & echo $!', "script",
                              *cli_command("grade", "--part", "matmul", "--out", str(out))],
                             capture_output=True, text=True, check=True)
    orphan = int(started.stdout)
    wait_for(lambda: not living([orphan]), seconds=60)
    assert not out.exists()   # it never graded: its matmul grade would have written its results in seconds

    def grade(value: str) -> subprocess.CompletedProcess:
        return subprocess.run(cli_command("grade", "--part", "matmul"), capture_output=True, text=True, timeout=120,
                              env={**os.environ, "LORA_COURSE_DIE_WITH": value})

    bad = grade("soon")
    assert bad.returncode == 2 and "LORA_COURSE_DIE_WITH must be a process id" in bad.stderr, bad.stderr
    assert grade(str(os.getpid())).returncode == 0


def test_misused_slurm_options_get_a_one_line_error(tmp_path):
    make_submission(REFERENCE, tmp_path / "class" / "ada")
    out = str(tmp_path / "gradebook.csv")
    cases = [(("--partition", "cpu"), "--partition is an option of --backend slurm"),
             (("--backend", "slurm", "--time", "soon"), "--time must be a Slurm time limit"),
             (("--backend", "slurm", "--cpus-per-task", "0"), "--cpus-per-task must be a whole number")]
    for options, message in cases:
        result = course_cli("grade-all", str(tmp_path / "class"), "--out", out, *options)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    bare = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(tmp_path / "class"), "--out", out,
                           "--backend", "slurm"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PATH": str(tmp_path / "no-slurm-here")})
    assert bare.returncode == 2 and "sbatch not found" in bare.stderr and "Traceback" not in bare.stderr, bare.stderr
    assert not (tmp_path / "gradebook.csv").exists()


@pytest.mark.slow   # Slurm's shortest time limit is a minute
def test_a_task_past_its_time_limit_is_a_row_with_the_reason(slurm, tmp_path):
    def long_budget(data: dict) -> None:   # matmul's budget beyond the task's one minute
        lora = data["assignments"]["lora"]
        lora["parts"] = lora["parts"][:1]
        lora["parts"][0]["time_budget"] = 300

    course = write_course(tmp_path / "course", long_budget)
    make_submission(REFERENCE, tmp_path / "class" / "hal", {"matmul.py": "while True:\n    pass\n"})
    out = tmp_path / "book" / "gradebook.csv"
    result = course_cli("--course", str(course), "grade-all", str(tmp_path / "class"), "--out", str(out),
                        "--backend", "slurm", "--time", "1", "--cpus-per-task", "1", timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ran past its time limit" in rows(out)["hal"]["error"], rows(out)["hal"]
    data = json.loads((tmp_path / "book" / "gradebook-results" / "hal.json").read_text())
    assert data["extra_data"]["error_kind"] == "grader"   # a rerun grades it again
