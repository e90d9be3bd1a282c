"""Grade one submission: submission -> sandboxed worker -> probes -> judge -> results.

For each part: plan every check's probe calls on inputs seeded for this submission, run them on the
student's code in the sandbox and on the reference in-process, judge, and collect a
:class:`PartReport`. Nothing a submission does can stop the other parts from being graded.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import platform
import random
import secrets
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .. import __version__
from ..core.model import CHECKS
from ..core.config import Assignment, Course, Part
from ..core.resources import Resources, container_resources, whole_cores
from ..core.model import CheckResult, Outcome, PlannedCheck
from ..core.untrusted import clean_text
from ..core.serial import trusted
from .judge import judge_part, not_run
from .reference import Reference
from ..sandbox import Limits, cgroup, policy, run_probes, walls, zygote
from .submission import Submission

PACKAGE_DIR = Path(__file__).resolve().parent.parent
GPU_NOT_RUN = ("needs a CUDA GPU, and none is present here; the course staff complete it on a machine with CUDA "
               "(`course grade SUBMISSION --only gpu --out gpu.json`, then "
               "`course merge-results cpu.json gpu.json --out merged.json`)")
GPU_HINT_PREFIX = "GPU checks not run:"
# What a report may hold: every string from a submission or a worker is cleaned of control characters and
# cut to these lengths (``core.untrusted.clean_text``) before the report is made, so the table and
# ``results.json`` stay small and show nothing a terminal would act on.
MAX_WORKER_TEXT = 1000    # each field of an error the worker reports (type, message, where), and `missing`
MAX_FEEDBACK = 4000       # one check's feedback
MAX_NOTE = 1000           # one note of a part or of the grade
MAX_NOTES = 10            # notes of one part (the grade's own: the submission's files left out, ...)
MAX_STAFF = 8000          # one entry of the staff log (a traceback)
MAX_STAFF_LINES = 40      # entries of one part's staff log
GRADER_FAILED = ("the grader could not grade this part: an error of the grader, not of your code; the course "
                 "staff have the details (please tell them)")


@dataclass
class PartReport:
    part: Part
    checks: list[CheckResult]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # where the part's wall time went, for benchmarks/grade.py (never part of a score)
    timings: dict[str, float] = field(default_factory=dict)
    # the staff log of this part (a grader error's traceback): stderr and results.json's hidden
    # ``extra_data.staff``, never the feedback
    staff: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(check.score for check in self.checks), 4)

    @property
    def max_score(self) -> float:
        return sum(check.max_score for check in self.checks)


@dataclass
class GradeReport:
    assignment: Assignment
    submission: str
    seed: int
    parts: list[PartReport]
    seconds: float
    provenance: dict
    notes: list[str] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)   # the grade's staff log (see PartReport.staff)

    @property
    def score(self) -> float:
        return round(sum(part.score for part in self.parts), 4)

    @property
    def max_score(self) -> float:
        return sum(part.max_score for part in self.parts)


SECRET_FILE = ".course-secret"



def course_secret(course: Course) -> bytes:
    """The course's secret salt of every seed: ``.course-secret`` in the course repository, made on first
    use (random, mode 600, ignored by git, never released) and copied into the Gradescope zip at build time.

    The worker never sees it (the repository is hidden from the sandbox), so a submission cannot work out
    its own seed, and a regrade on the same course gives the same seed.
    """
    path = course.root / SECRET_FILE
    if not path.exists():  # the first grade of this course: written aside, then linked in whole
        with tempfile.NamedTemporaryFile("w", dir=course.root, prefix=".course-secret-", delete=False) as handle:
            handle.write(secrets.token_hex(32) + "\n")  # NamedTemporaryFile makes it mode 600
        try:
            os.link(handle.name, path)   # only one concurrent grade wins; the others read its secret
        except FileExistsError:
            pass
        finally:
            os.unlink(handle.name)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise RuntimeError(f"{path} holds no secret; delete it and a new one is made")
    return secret.encode()


def submission_seed(course: Course, assignment: Assignment, submission: Submission) -> int:
    """Hidden inputs differ between submissions, and change with any change of any file of a submission
    (``submission.digest``), but are identical when one submission is regraded. Keyed with the course's
    secret (:func:`course_secret`), so nobody outside the grader can compute which inputs a submission
    will get."""
    text = f"{course.short}:{assignment.id}:{submission.digest}".encode()
    return int(hmac.new(course_secret(course), text, hashlib.sha256).hexdigest()[:12], 16)


def _source_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted, without caches."""
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix != ".pyc"
                  and not {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"} & set(path.relative_to(folder).parts))


def checks_digest(course: Course) -> str:
    """Hash of everything that decides a grade, so two results with the same hash come from the same grader
    (``merge-results`` refuses others): course.yml (points, budgets), every file of the grader package (the
    checks, probes and runtime, the judge, the sandbox, the notebook's runner, tests and questions) and
    every assignment's reference solution (its package and master notebooks), which the student's values
    are compared with. The whole package, not a list of its modules, so no module can be forgotten."""
    digest = hashlib.sha256(course.path.read_bytes())
    sources = [(PACKAGE_DIR.name, PACKAGE_DIR)]
    for assignment in course.assignments.values():
        sources.append((f"{assignment.id}:{assignment.package}", assignment.solution / assignment.package))
    for name, folder in sources:
        for path in _source_files(folder):
            digest.update(f"{name}/{path.relative_to(folder).as_posix()}".encode() + b"\0" + path.read_bytes())
    for assignment in course.assignments.values():   # a master notebook's run gives the values its questions expect
        for master in (assignment.solution / part.notebook for part in assignment.parts if part.notebook):
            digest.update(master.name.encode() + b"\0" + master.read_bytes())
    return digest.hexdigest()


def hidden_paths(course: Course, assignment: Assignment) -> list[Path]:
    """What the sandboxed worker must not see of this course (see :func:`.sandbox.policy.course_hidden`)."""
    return policy.course_hidden(course.root, assignment.solution)


def grade_notebook_part(part: Part, submission: Submission, assignment: Assignment, seed: int,
                        hide: list[Path]) -> PartReport:
    """A notebook part: the notebook runs in the sandbox and exports its values; its questions are
    judged here, against the master notebook's values, like every other check."""
    from .notebook import find_notebook, grade_notebook, reference_outcomes

    started = time.monotonic()
    timings: dict[str, float] = {}
    if not part.warm and find_notebook(submission.root, part.notebook):
        # cold workers (a small container, see grade_settings): the master notebook's run first, not beside
        # the student's (two notebooks at once were killed for memory at Gradescope's 768 MB)
        reference_outcomes(part, assignment, hide)
        timings["master_notebook_first"] = time.monotonic() - started
    checks, notes = grade_notebook(part, assignment, submission.root, hide, seed, timings)
    return PartReport(part=part, checks=checks, seconds=time.monotonic() - started, notes=notes, timings=timings)


def grade_part(part: Part, submission: Submission, assignment: Assignment, reference: Reference, seed: int,
               hide: list[Path], gpu_available: bool, gpu_only: bool = False) -> PartReport:
    """Grade one part; with ``gpu_only`` its GPU checks alone (the others are left out of the report).

    Whatever happens while the part is read or judged, it ends in a report: an exception of the grader
    fails the part's checks with :data:`GRADER_FAILED` (its traceback goes to the staff log), and every
    string of the report is cleaned and capped (:func:`bounded`)."""
    started = time.monotonic()
    try:
        if part.notebook:
            report = grade_notebook_part(part, submission, assignment, seed, hide)
        else:
            report = _grade_module_part(part, submission, assignment, reference, seed, hide, gpu_available, gpu_only)
    except Exception:  # noqa: BLE001 - one part's failure never costs the grade
        report = failed_part(part, gpu_available, gpu_only, traceback.format_exc())
        report.seconds = time.monotonic() - started
    return bounded(report)


def failed_part(part: Part, gpu_available: bool, gpu_only: bool, trace: str) -> PartReport:
    """The report of a part whose grading raised: every check it would grade failed with the reason."""
    checks = []
    for spec in part.checks:
        if gpu_only and not spec.gpu:
            continue
        checks.append(not_run(spec, GPU_NOT_RUN) if spec.gpu and not gpu_available else
                      CheckResult(spec, CHECKS[spec.id].title, 0.0, "failed", GRADER_FAILED))
    return PartReport(part=part, checks=checks, staff=[f"{part.id}: the grader failed on this part:\n{trace}"])


def bounded_outcome(outcome: Outcome) -> Outcome:
    """``outcome`` with the strings the worker wrote about an error cleaned and capped before any judge
    quotes them (a message of megabytes, terminal escapes)."""
    error = outcome.error and {str(key)[:40]: clean_text(value, MAX_WORKER_TEXT, newlines=key == "message")
                               for key, value in outcome.error.items()}
    missing = outcome.missing and clean_text(outcome.missing, MAX_WORKER_TEXT)
    return replace(outcome, error=error, missing=missing) if (error, missing) != (outcome.error, outcome.missing) \
        else outcome


def bounded(report: PartReport) -> PartReport:
    """``report`` as it may be shown: feedback, notes and staff lines cleaned and capped, at most
    :data:`MAX_NOTES` notes."""
    checks = [replace(check, feedback=clean_text(check.feedback, MAX_FEEDBACK)) for check in report.checks]
    notes = [clean_text(note, MAX_NOTE) for note in report.notes[:MAX_NOTES]]
    if len(report.notes) > MAX_NOTES:
        notes.append(f"... and {len(report.notes) - MAX_NOTES} more notes")
    staff = [clean_text(line, MAX_STAFF) for line in [*report.staff, *(check.staff for check in report.checks)] if line]
    staff = staff[:MAX_STAFF_LINES] + [f"... and {len(staff) - MAX_STAFF_LINES} more"] * (len(staff) > MAX_STAFF_LINES)
    return replace(report, checks=checks, notes=notes, staff=staff)


def _grade_module_part(part: Part, submission: Submission, assignment: Assignment, reference: Reference, seed: int,
                       hide: list[Path], gpu_available: bool, gpu_only: bool) -> PartReport:
    started = time.monotonic()
    specs = [spec for spec in part.checks if spec.gpu or not gpu_only]
    (planned, skipped), _ = trusted(_plan, specs, seed, gpu_available)
    calls = [call for item in planned for call in item.calls]
    resume_at = []  # a crash skips the rest of its check and resumes at the next check
    for item in planned:
        resume_at += [len(resume_at) + len(item.calls)] * len(item.calls)
    report = PartReport(part=part, checks=[])
    judged: dict[str, CheckResult] = {}
    if calls:
        # A CUDA build of torch maps gigabytes of address space as soon as it is imported, even for a
        # CPU-only part, so on such a machine every worker is limited on writable memory instead.
        limits = Limits(wall_seconds=part.time_budget, memory_mb=part.memory_mb,
                        gpu=torch.version.cuda is not None)
        planned_at = time.monotonic()
        with ThreadPoolExecutor(1) as side:   # the reference's probes while the student's worker runs
            reference_run = side.submit(trusted, reference.run, part.module_name, calls)
            worker = run_probes(submission.root, assignment.package, part.module_name, calls, limits, hide, resume_at,
                                warm=part.warm)
            worker_done = time.monotonic()
            want, reference_seconds = reference_run.result()
        outcomes = [bounded_outcome(outcome) for outcome in worker.outcomes]
        results, judge_seconds = trusted(judge_part, planned, outcomes, want)
        judged = {result.spec.id: result for result in results}
        report.timings = {"plan": planned_at - started, "worker_start": worker.startup_seconds,
                          "student_probes": worker.seconds - worker.startup_seconds,
                          "worker_launches": worker.launches, "warm_launches": worker.warm_launches,
                          "reference_probes": reference_seconds, "reference_after_worker": time.monotonic()
                          - worker_done - judge_seconds, "judge": judge_seconds}
        if worker.import_error:
            error = {key: clean_text(worker.import_error.get(key, ""), MAX_WORKER_TEXT) for key in ("type", "message", "where")}
            where = f" ({error['where']})" if error.get("where") else ""
            report.notes.append(f"{part.module} could not be imported, so every check of this part failed: "
                                f"{error['type']}: {error['message']}{where}")
        if worker.output_bytes:
            shown = clean_text(worker.output[:MAX_NOTE].strip(), MAX_NOTE)
            report.notes.append(f"your code printed {worker.output_bytes} bytes; the beginning:\n{shown}")
        problems = worker.isolation.get("problems") if worker.isolation else None
        if problems:   # what the student's code caused (a memory limit); walls down are the staff's
            report.notes.append("sandbox: " + "; ".join(problems))
        report.staff += [f"{part.id}: {line}" for line in worker.isolation.get("staff") or []]
    report.checks = [judged.get(spec.id) or skipped[spec.id] for spec in specs]
    report.seconds = time.monotonic() - started
    return report


def _plan(specs, seed: int, gpu_available: bool) -> tuple[list[PlannedCheck], dict[str, CheckResult]]:
    """Each check's probe calls on inputs seeded for this submission; GPU checks without a GPU are not run."""
    planned, skipped = [], {}
    for spec in specs:
        if spec.gpu and not gpu_available:
            skipped[spec.id] = not_run(spec, GPU_NOT_RUN)
            continue
        planned.append(PlannedCheck(spec, CHECKS[spec.id].plan(random.Random(f"{seed}/{spec.id}"))))
    return planned, skipped


def gpu_hint(parts: list[PartReport]) -> list[str]:
    """The line saying how to complete the GPU checks that were not run, if any were not."""
    missing = [check for part in parts for check in part.checks if check.spec.gpu and check.status == "not run"]
    if not missing:
        return []
    points = sum(check.spec.points for check in missing)
    return [f"{GPU_HINT_PREFIX} {len(missing)} checks ({points:g} points) need CUDA and are left out of max_score; "
            f"to complete them run `course grade SUBMISSION --only gpu --out gpu.json` on a CUDA machine, then "
            f"`course merge-results cpu.json gpu.json --out merged.json`."]


# Below these the grade fits a small container (Gradescope's default: 768 MB for the whole tree), measured
# by benchmarks/gradescope.py: a warm zygote imports every library of the course at once beside the
# grading process (~500 MB more than a part's cold worker), and each part graded side by side adds its
# worker and its reference's run (up to ~450 MB).
WARM_MEMORY_MB = 2048
PART_MEMORY_MB = 1024


def grade_settings(resources: Resources | None = None) -> tuple[int, bool]:
    """How many parts to grade side by side, and whether workers fork from a warm zygote, in the container
    this grader runs in (:func:`.core.resources.container_resources`): a part per whole core of its CPU
    quota, at most one per :data:`PART_MEMORY_MB` of its memory limit; warm workers only with
    :data:`WARM_MEMORY_MB` or more (else cold: the zygote's libraries would not fit beside the grade)."""
    resources = resources or container_resources()
    jobs = whole_cores(resources)
    if resources.memory_mb is not None:
        jobs = max(1, min(jobs, resources.memory_mb // PART_MEMORY_MB))
    return jobs, resources.memory_mb is None or resources.memory_mb >= WARM_MEMORY_MB


def default_jobs() -> int:
    """Parts graded side by side by default (see :func:`grade_settings`)."""
    return grade_settings()[0]


def grade(course: Course, assignment: Assignment, submission: Submission, seed: int | None = None,
          parts: list[str] | None = None, gpu_only: bool = False, hide_also: tuple[Path, ...] = (),
          jobs: int | None = None) -> GradeReport:
    """Grade ``submission`` on the chosen parts (all by default) and return the full report.

    ``jobs`` parts are graded side by side (default: :func:`default_jobs`; ``course grade-all`` gives each
    submission 1, so that a class run uses ``--jobs`` cores, not more); the report lists them in the
    course's order whatever order they finished in.

    ``gpu_only`` grades the GPU checks alone (the parts without any are left out); ``hide_also`` adds
    paths the sandboxed worker must not see, such as the folder the results are written to or the other
    submissions of a class (ignored where the worker needs them, see :func:`.sandbox.policy.hideable`).
    """
    started = time.monotonic()
    seed = submission_seed(course, assignment, submission) if seed is None else seed
    reference = Reference(assignment.solution, assignment.package)
    # the worker grades a copy; the folder the submission came from holds the other submissions
    hide = hidden_paths(course, assignment) + [Path(submission.label).resolve().parent] \
        + [Path(path) for path in hide_also if policy.hideable(Path(path))]
    gpu_available = torch.cuda.is_available()
    chosen = [part for part in assignment.parts if not (parts and part.id not in parts)
              and not (gpu_only and not any(spec.gpu for spec in part.checks))]
    # the rule of :mod:`.sandbox.walls`: no student code runs where nothing keeps the grader's files from it
    guard = walls.preflight(hide, walls.guarded_files(assignment.solution, [course.root / "course.yml",
                                                                            course.root / SECRET_FILE]))
    guard_staff = guard["staff"] + [f"the worker could open {path}" for path in guard["opened"]]
    walls.staff_log(guard_staff)
    sandbox = {"walls": {name: wall.get("held", False) for name, wall in guard["walls"].items()},
               "held": guard["held"]}
    if not guard["held"] and not walls.allowed_unsandboxed():
        message = walls.refusal(guard)
        walls.staff_log([message])
        stopped = [PartReport(part=part, checks=[not_run(spec, "the grader stopped before running any code "
                                                               "(see the message below)") for spec in part.checks])
                   for part in chosen]
        return GradeReport(assignment=assignment, submission=submission.label, seed=seed, parts=stopped,
                           seconds=time.monotonic() - started, notes=[message], staff=guard_staff,
                           provenance={"grader_version": __version__, "seed": seed, "sandbox": sandbox,
                                       "submission_sha256": submission.digest, "stopped": "no sandbox wall"})
    if not guard["held"]:
        sandbox["unsandboxed"] = True   # --allow-unsandboxed: graded all the same
    resources = container_resources()
    fitting_jobs, warm = grade_settings(resources)
    if not warm:   # too little memory for a zygote beside the grade: every worker starts cold
        chosen = [replace(part, warm=()) for part in chosen]
    for part in chosen:   # the zygotes import their libraries while the first parts are graded
        zygote.for_libraries(part.warm)
    # the longest budgets first, so that the last part to finish is a short one
    order = sorted(chosen, key=lambda part: -part.time_budget)
    jobs = max(1, jobs or fitting_jobs)
    # The grading process's own torch work is small (tiny models, one part at a time) and the cores belong
    # to the workers, its neighbours' in a class run included: torch's threads spinning here on a core a
    # worker holds slowed a grade up to eight times.
    torch.set_num_threads(1)
    with ThreadPoolExecutor(jobs) as pool:
        futures = {part.id: pool.submit(grade_part, part, submission, assignment, reference, seed, hide, gpu_available,
                                        gpu_only) for part in order}
        reports = [futures[part.id].result() for part in chosen]
    provenance = {
        "grader_version": __version__,
        "checks_sha256": checks_digest(course),
        "seed": seed,
        "submission_sha256": submission.digest,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": gpu_available,
        "worker_limits": cgroup.describe_here(),
        # what the container allows, and the parts at once and warm workers chosen from it
        "resources": {"limits": resources.describe(), "jobs": jobs, "warm": warm},
        "sandbox": sandbox,   # which walls held (sandbox.walls); "unsandboxed": graded with --allow-unsandboxed
    }
    if gpu_only:
        provenance["only"] = "gpu"
    # files the grader did not read (their names are the student's)
    left_out = [clean_text(f"submission: {problem}", MAX_NOTE, newlines=False) for problem in submission.problems]
    if len(left_out) > MAX_NOTES:
        left_out = left_out[:MAX_NOTES] + [f"submission: ... and {len(left_out) - MAX_NOTES} more files left out"]
    staff = [line for report in reports for line in report.staff]
    walls.staff_log(staff)
    return GradeReport(assignment=assignment, submission=submission.label, seed=seed, parts=reports,
                       seconds=time.monotonic() - started, provenance=provenance, notes=left_out + gpu_hint(reports),
                       staff=guard_staff + staff)
