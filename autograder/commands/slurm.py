"""Grade a whole class on a Slurm cluster: ``course grade-all DIR --backend slurm``.

The unit is the local backend's: one ``course grade`` per submission, in its own process and its own
sandbox, reading one input (the submission) and writing one output file. Here each one is a task of a
job array submitted with ``sbatch``: an array for the CPU tier (every submission still to grade) and,
when the parts asked hold GPU checks, one for the GPU tier (``course grade --only gpu``, with
``--gres=gpu:1`` on the GPU partition). This process watches the tasks through ``squeue``, learns how a
task that left the queue ended from the exit code its script wrote, else from ``sacct`` (or ``scontrol``
where accounting is off), and as soon as both tiers of a submission are done merges them as
``course merge-results`` does into ``<stem>-results/<name>.json`` and rewrites the gradebook: the same
files as the local backend, row for row.

A rerun submits only what is missing or failed (a tier whose task failed, timed out or was cancelled is
a row with the reason until then); ``Ctrl-C`` cancels the arrays (``scancel``) and keeps every finished
result. Work files live in ``<stem>-slurm/`` beside the gradebook, which every node must see at the same
path (as it must see the submissions, the course and this grader's Python environment): the array
scripts, each tier's results (``cpu/``, ``gpu/``; a task's grade writes them ``.partial`` and its script
moves them once the grade has ended), each task's log (``logs/``) and exit code (``exit/``). A task's
grade, and each of its sandboxed workers, is killed when the process that started it ends.
"""

from __future__ import annotations

import math
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..core.config import Assignment, ClusterSettings, Course
from ..core.errors import CourseError
from .boot import DIE_WITH_ENV
from .grade_all import (GRADER_ERROR, Entry, Summary, finished_line, grade_command, grade_timeout, gradebook_rows,
                        is_done, progress_bar, read_results, record_outcome, results_folder, start_class,
                        write_gradebook)
from ..output.merge import MergeError, merge_results
from ..output.results import write_json

TIERS = ("cpu", "gpu")
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE", "REVOKED"}
WHY = {"TIMEOUT": "ran past its time limit", "CANCELLED": "was cancelled", "OUT_OF_MEMORY": "ran out of memory",
       "NODE_FAIL": "was lost with its node", "PREEMPTED": "was preempted", "BOOT_FAIL": "could not start its node",
       "DEADLINE": "missed its deadline", "FAILED": "failed"}
LOG_TAIL = 64 * 1024
PARTIAL = ".partial"   # the suffix of results a task has not finished writing (see write_script)
EXIT_FILE_POLLS = 5


class SlurmError(CourseError):
    """Slurm cannot be used (no ``sbatch``, a refused submission); one sentence for the user."""


@dataclass
class Task:
    """One task of an array: a tier of one submission."""

    tier: str
    index: int
    entry: Entry
    job: str = ""
    polls_without_exit_code: int = 0   # ended by Slurm's account, but its exit file is not visible yet


@dataclass
class Watch:
    """What is known of the tasks still out: the last state seen of each, and when it was submitted."""

    tasks: dict[tuple[str, int], Task]
    states: dict[tuple[str, int], str] = field(default_factory=dict)


def settings(course: Course, **given: str | int | None) -> ClusterSettings:
    """``course.yml``'s ``cluster:`` with the options given on the command line in its place."""
    return replace(course.cluster, **{name: value for name, value in given.items() if value is not None})


def _run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SlurmError(f"{command[0]} not found: --backend slurm needs Slurm's commands (sbatch, squeue, "
                         f"scancel) on PATH; run grade-all on the cluster's login node") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{command[0]} did not answer within {timeout:g} s; is slurmctld up?") from None


def slurm_time(seconds: float) -> str:
    """A time limit for ``sbatch --time`` in whole minutes, rounded up."""
    return str(max(1, math.ceil(seconds / 60)))


def has_gpu_checks(assignment: Assignment, parts: list[str]) -> bool:
    return any(spec.gpu for part in assignment.parts if part.id in parts for spec in part.checks)


def write_script(path: Path, commands: list[list[str]], outs: list[Path], exits: Path, tier: str) -> None:
    """The array's batch script: task ``i`` runs ``commands[i]``, which writes its results to
    ``partial(outs[i])``; the script then moves them to ``outs[i]`` and writes its exit code to ``exits``.
    A task that was cancelled or killed never moves them, so a grade process that outlived its task (a
    process tracker that lost it) cannot overwrite the row the driver recorded for that task."""
    cases = "\n".join(f"  {index}) out={shlex.quote(str(out))}; set -- {shlex.join(command)} ;;"
                      for index, (command, out) in enumerate(zip(commands, outs, strict=True)))
    path.write_text(f"""#!/bin/bash
# written by `course grade-all --backend slurm`: task i grades submission i ({tier} tier)
case "$SLURM_ARRAY_TASK_ID" in
{cases}
  *) echo "no task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;
esac
# the grade's temporary folders lie in one of the task's, removed as the task ends, cancelled (SIGTERM) too
scratch=$(mktemp -d "${{TMPDIR:-/tmp}}/lora-grade-all-XXXXXX") || exit 1
chmod 711 "$scratch"   # without a mount namespace the worker's own uid must pass through to its work folder
trap 'rm -rf "$scratch"' EXIT
trap 'exit 143' TERM
TMPDIR="$scratch" {DIE_WITH_ENV}=$$ "$@"   # the grade dies with this script, even where the process tracker loses it
code=$?
if [ -f "$out{PARTIAL}" ]; then mv "$out{PARTIAL}" "$out"; fi
echo "$code" > {shlex.quote(str(exits))}/{tier}-"$SLURM_ARRAY_TASK_ID".tmp
mv {shlex.quote(str(exits))}/{tier}-"$SLURM_ARRAY_TASK_ID".tmp {shlex.quote(str(exits))}/{tier}-"$SLURM_ARRAY_TASK_ID"
exit "$code"
""")
    path.chmod(0o755)


def partial(out: Path) -> Path:
    """Where a task's grade writes the results that its script moves to ``out`` once the grade has ended."""
    return out.with_name(out.name + PARTIAL)


def submit(script: Path, count: int, tier: str, options: ClusterSettings, logs: Path, seconds: float) -> str:
    """Submit ``script`` as an array of ``count`` tasks; returns the array's job id."""
    command = ["sbatch", "--parsable", f"--array=0-{count - 1}", f"--job-name=course-{tier}",
               f"--output={logs}/{tier}-%a.out", f"--error={logs}/{tier}-%a.err", f"--chdir={logs}",
               f"--time={options.time or slurm_time(seconds)}"]
    if options.mem:
        command.append(f"--mem={options.mem}")
    if options.cpus_per_task:
        command.append(f"--cpus-per-task={options.cpus_per_task}")
    partition = options.gpu_partition if tier == "gpu" else options.partition
    if partition:
        command.append(f"--partition={partition}")
    if tier == "gpu":
        command.append("--gres=gpu:1")
    result = _run([*command, str(script)])
    if result.returncode != 0:
        raise SlurmError(f"sbatch refused the {tier} array: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip().split(";")[0]


def queued(jobs: list[str]) -> dict[tuple[str, int], str]:
    """``(array job id, task index) -> state`` of every task of ``jobs`` still in the queue."""
    result = _run(["squeue", "-h", "-r", "-j", ",".join(jobs), "-o", "%F|%K|%T"])
    if result.returncode != 0:   # every job has left the queue (and the controller forgot them)
        return {}
    states = {}
    for line in result.stdout.splitlines():
        job, _, rest = line.partition("|")
        index, _, state = rest.partition("|")
        if index.isdigit():
            states[(job, int(index))] = state
    return states


def ended(job: str, index: int) -> tuple[str, str]:
    """How a task that left the queue ended: ``(state, reason)`` from ``sacct``, or from ``scontrol`` where
    accounting is off (as in many test clusters; it remembers a job for ``MinJobAge`` seconds)."""
    result = _run(["sacct", "-n", "-P", "-X", "-j", f"{job}_{index}", "--format=State,ExitCode,Reason"])
    lines = [line for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []
    if lines:
        state, exit_code, reason = (lines[0].split("|") + ["", ""])[:3]
        return state.split()[0], f"exit code {exit_code}" + (f", {reason}" if reason and reason != "None" else "")
    result = _run(["scontrol", "show", "job", "-o", f"{job}_{index}"])
    fields = dict(item.split("=", 1) for item in result.stdout.split() if "=" in item)
    if "JobState" in fields:
        reason = fields.get("Reason", "None")
        return fields["JobState"], f"exit code {fields.get('ExitCode', '?')}" + (f", {reason}" if reason != "None" else "")
    return "UNKNOWN", "Slurm no longer knows the task (no accounting, and scontrol forgot it)"


def cancel(jobs: list[str]) -> None:
    if jobs:
        _run(["scancel", *jobs])


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - LOG_TAIL))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _tier_done(tier: str, data: dict | None, parts: list[str]) -> bool:
    """A tier's results a rerun keeps: graded, or an error that a rerun would give again (the GPU tier on a
    node without CUDA, a submission that cannot be graded)."""
    if data is None:
        return False
    extra = data.get("extra_data") or {}
    if tier == "gpu":
        return extra.get("error_kind") != GRADER_ERROR
    return is_done(data, parts)


def _class_done(data: dict | None, parts: list[str]) -> bool:
    """Final results a rerun keeps: those the local backend keeps, unless their GPU tier failed for the grader."""
    return is_done(data, parts) and ((data or {}).get("extra_data") or {}).get("gpu_tier", {}).get("error_kind") \
        != GRADER_ERROR


def combine(cpu: dict, gpu: dict | None) -> dict:
    """A submission's results from its tiers: the CPU tier's, with the GPU checks merged in as
    ``course merge-results`` merges them where the GPU tier graded them; else they stay not run, and
    ``extra_data.gpu_tier`` says why."""
    if gpu is None or "error" in (cpu.get("extra_data") or {}):
        return cpu
    extra = gpu.get("extra_data") or {}
    if "error" in extra:   # the staff's lines (the grader's stderr) go with it: gpu_tier is the staff's
        why = {"error": extra["error"], "error_kind": extra.get("error_kind"),
               **({"staff": extra["staff"]} if extra.get("staff") else {})}
    else:
        try:
            return merge_results(cpu, gpu)
        except MergeError as error:
            why = {"error": str(error), "error_kind": GRADER_ERROR}
    return {**cpu, "extra_data": {**(cpu.get("extra_data") or {}), "gpu_tier": why}}


def grade_all_slurm(course: Course, assignment: Assignment, submissions: Path, gradebook: Path,
                    options: ClusterSettings, force: bool = False, parts: list[str] | None = None,
                    poll_seconds: float = 2.0,
                    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> Summary:
    """Grade every submission in ``submissions`` through Slurm into ``gradebook`` and the results folder
    beside it, as :func:`autograder.commands.grade_all.grade_all` does locally; see the module's docstring."""
    if shutil.which("sbatch") is None:
        raise SlurmError("sbatch not found: --backend slurm needs Slurm's commands (sbatch, squeue, scancel) on "
                         "PATH; run grade-all on the cluster's login node")
    entries, todo, summary = start_class(assignment, submissions, gradebook, force, parts, log, done=_class_done)
    parts = list(parts or [part.id for part in assignment.parts])
    folder = results_folder(gradebook)
    work = gradebook.with_name(f"{gradebook.stem}-slurm").resolve()
    tiers = TIERS if has_gpu_checks(assignment, parts) else TIERS[:1]
    for name in (*tiers, "logs", "exit"):
        (work / name).mkdir(parents=True, exist_ok=True)
    watch = Watch(tasks={})
    bar = progress_bar(len(todo))
    try:
        for tier in tiers:
            wanted = [entry for entry in todo
                      if force or not _tier_done(tier, read_results(work / tier / f"{entry.name}.json"), parts)]
            if wanted:
                job = _submit_tier(course, assignment, tier, wanted, work, folder, parts, options)
                log(f"submitted the {tier} tier of {len(wanted)} submissions as Slurm job array {job}")
                watch.tasks.update({(tier, index): Task(tier, index, entry, job) for index, entry in enumerate(wanted)})
        out = {task.entry.name for task in watch.tasks.values()}
        for entry in todo:   # both tiers done before, only the merged results missing
            if entry.name not in out:
                _finish(entry, work, folder, tiers, summary, len(todo), bar, log)
        _watch(watch, work, folder, assignment, entries, gradebook, tiers, summary, len(todo), bar, poll_seconds, log)
    except KeyboardInterrupt:
        jobs = sorted({task.job for task in watch.tasks.values()})
        cancel(jobs)
        log(f"cancelled Slurm job arrays {', '.join(jobs) or '(none yet)'}; the finished results are kept")
        raise
    finally:
        if bar is not None:
            bar.close()
        write_gradebook(assignment, gradebook_rows(assignment, entries, folder), gradebook)
    return summary


def _submit_tier(course: Course, assignment: Assignment, tier: str, wanted: list[Entry], work: Path, folder: Path,
                 parts: list[str], options: ClusterSettings) -> str:
    """Write the array script of ``tier`` for ``wanted`` (task i grades wanted[i]) and submit it."""
    outs = [work / tier / f"{entry.name}.json" for entry in wanted]
    for stale in [*outs, *map(partial, outs), *(work / "exit").glob(f"{tier}-*")]:
        stale.unlink(missing_ok=True)
    commands = [grade_command(course, assignment, entry, partial(out), parts, hide=(work, folder.resolve()),
                              only_gpu=tier == "gpu") for entry, out in zip(wanted, outs)]
    script = work / f"{tier}.sh"
    write_script(script, commands, outs, work / "exit", tier)
    return submit(script, len(wanted), tier, options, work / "logs", grade_timeout(assignment))


def _watch(watch: Watch, work: Path, folder: Path, assignment: Assignment, entries: list[Entry], gradebook: Path,
           tiers: tuple[str, ...], summary: Summary, total: int, bar, poll_seconds: float,
           log: Callable[[str], None]) -> None:
    """Poll the queue until every task has ended, recording each tier and each submission as it ends."""
    while watch.tasks:
        states = queued(sorted({task.job for task in watch.tasks.values()}))
        for key, task in list(watch.tasks.items()):
            state = states.get((task.job, task.index))
            if state is not None and state not in ENDED:
                if watch.states.get(key) != state:
                    watch.states[key] = state
                    if bar is None:
                        log(f"{task.entry.name} ({task.tier}, task {task.job}_{task.index}): {state}")
                continue
            if not _record_task(task, work):
                continue   # its exit code is not written yet: look again at the next poll
            del watch.tasks[key]
            if not any(other.entry.name == task.entry.name for other in watch.tasks.values()):
                _finish(task.entry, work, folder, tiers, summary, total, bar, log)
                write_gradebook(assignment, gradebook_rows(assignment, entries, folder), gradebook)
        if bar is not None:
            counts = {}
            for key in watch.tasks:
                counts[watch.states.get(key, "PENDING")] = counts.get(watch.states.get(key, "PENDING"), 0) + 1
            bar.set_postfix_str(", ".join(f"{state.lower()} {count}" for state, count in sorted(counts.items())))
        if watch.tasks:
            time.sleep(poll_seconds)


def _record_task(task: Task, work: Path) -> bool:
    """Write the tier's results of a task that left the queue (a row with the reason when it failed);
    ``False`` when it seems to have ended normally but its exit code is not visible yet."""
    out = work / task.tier / f"{task.entry.name}.json"
    exit_file = work / "exit" / f"{task.tier}-{task.index}"
    stderr = _tail(work / "logs" / f"{task.tier}-{task.index}.err")
    if exit_file.is_file():
        code = exit_file.read_text().strip()
        record_outcome(out, int(code) if code.lstrip("-").isdigit() else None, stderr)
        return True
    state, reason = ended(task.job, task.index)
    if state not in ENDED and state != "UNKNOWN":
        return False   # squeue missed it for a moment; it is still out
    task.polls_without_exit_code += 1
    if state in ("COMPLETED", "FAILED") and task.polls_without_exit_code <= EXIT_FILE_POLLS:
        return False   # a shared file system may show the exit file a little later
    what = WHY.get(state, f"ended in state {state}")
    record_outcome(out, None, stderr, f"the Slurm task {task.job}_{task.index} ({task.tier} tier) {what} ({reason})")
    return True


def _finish(entry: Entry, work: Path, folder: Path, tiers: tuple[str, ...], summary: Summary, total: int,
            bar, log: Callable[[str], None]) -> None:
    """Both tiers of ``entry`` are done: write its results as the local backend would, and say so."""
    cpu = read_results(work / "cpu" / f"{entry.name}.json")
    gpu = read_results(work / "gpu" / f"{entry.name}.json") if "gpu" in tiers else None
    if cpu is None:   # never: every ended task is recorded
        record_outcome(work / "cpu" / f"{entry.name}.json", None, "", "the CPU tier left no results")
        cpu = read_results(work / "cpu" / f"{entry.name}.json")
    data = combine(cpu, gpu)
    write_json(folder / f"{entry.name}.json", data)
    extra = data.get("extra_data") or {}
    error = extra.get("error")
    summary.graded.append(entry.name)
    summary.seconds[entry.name] = float(data.get("execution_time", 0.0))
    if error:
        summary.errors[entry.name] = error
    line = finished_line(len(summary.graded), total, entry.name, error, data, summary.seconds[entry.name])
    if extra.get("gpu_tier"):
        staff = (extra["gpu_tier"].get("staff") or [""])[-1].strip().splitlines()
        line += f"; GPU checks not run: {extra['gpu_tier']['error']}" + (f" ({staff[-1]})" if staff else "")
    if bar is None:
        log(line)
    else:
        bar.write(line, file=sys.stderr)
        bar.update(1)
