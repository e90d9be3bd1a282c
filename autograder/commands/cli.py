"""The ``course`` command: grade submissions, release the student version, validate course.yml.

Exit codes: 0 when the command did its job (a grade is a job done, whatever the score), 1 when
``release --check`` finds drift or ``audit`` finds a surviving mutant or a rejected correct answer,
2 when the command is misused or its input cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path

from ..core.config import ConfigError, Course
from ..core.errors import CourseError
from ..parts import load_course
from ..parts.notebook import MATERIAL
from .boot import PACKAGE_ROOT, die_with_parent
from .release import build_material, build_release, drifted_files, write_release

SLURM_OPTIONS = ("partition", "gpu_partition", "time", "mem", "cpus_per_task")


def find_course_file(explicit: str | None) -> Path:
    """``--course``, else ``$COURSE_YML``, else ``course.yml`` in this folder or a parent, else the one
    beside the installed grader."""
    if explicit or os.environ.get("COURSE_YML"):
        path = Path(explicit or os.environ["COURSE_YML"])
        if not path.is_file():
            raise CourseError(f"course file {path} does not exist")
        return path
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "course.yml").is_file():
            return folder / "course.yml"
    if (PACKAGE_ROOT / "course.yml").is_file():
        return PACKAGE_ROOT / "course.yml"
    raise CourseError("no course.yml found here or in any parent folder; pass --course PATH")


def load(args: argparse.Namespace) -> Course:
    return load_course(find_course_file(args.course))


def check_parts(assignment, parts: list[str] | None) -> None:
    known = {part.id for part in assignment.parts}
    unknown = sorted(set(parts or ()) - known)
    if unknown:
        raise CourseError(f"unknown part {', '.join(unknown)}; parts are {', '.join(sorted(known))}")


def _allow_unsandboxed(args: argparse.Namespace) -> None:
    """``--allow-unsandboxed``: through the environment, so that the grades ``grade-all`` starts inherit it."""
    if getattr(args, "allow_unsandboxed", False):
        from ..sandbox.walls import ALLOW_ENV

        os.environ[ALLOW_ENV] = "1"


def cmd_grade(args: argparse.Namespace) -> int:
    from ..sandbox import zygote

    if args.jobs is not None and args.jobs < 1:
        raise CourseError("--jobs must be at least 1")
    course = load(args)
    assignment = course.assignment(args.assignment)
    check_parts(assignment, args.part)
    _allow_unsandboxed(args)
    for part in assignment.parts:   # the zygotes import their libraries while this process imports torch
        if not args.part or part.id in args.part:
            zygote.for_libraries(part.warm)
    from ..engine.grading import grade
    from ..output.results import GRADER_ERROR, SUBMISSION_ERROR, error_results, render_table, write_json, write_results
    from ..engine.submission import SubmissionError, open_submission

    gpu_only = args.only == "gpu"
    if gpu_only:
        import torch

        if not torch.cuda.is_available():
            raise CourseError("--only gpu grades the checks that need CUDA, and torch sees no CUDA device here; "
                             "run it on a machine with a GPU")
    path = Path(args.submission) if args.submission else assignment.solution
    try:
        with open_submission(path, assignment.package) as submission:
            if not args.submission:
                submission = replace(submission, label=f"reference solution ({path})")
            report = grade(course, assignment, submission, seed=args.seed, parts=args.part, gpu_only=gpu_only,
                           hide_also=tuple(Path(path) for path in args.hide or ()), jobs=args.jobs)
    except SubmissionError as error:
        if args.out:   # what `grade-all` reads: the results say why this submission got no grade
            write_json(Path(args.out), error_results(str(error), SUBMISSION_ERROR))
        raise
    except Exception:   # a grader bug outside any part: still a results.json, the traceback for the staff only
        if args.out:
            import traceback

            write_json(Path(args.out), error_results("the grader failed on this submission; the course staff have "
                                                     "the details", GRADER_ERROR, [traceback.format_exc()]))
        raise
    print(render_table(report))
    if args.out:
        write_results(report, Path(args.out))
        print(f"results written to {args.out}")
    return 0


def cmd_grade_all(args: argparse.Namespace) -> int:
    _allow_unsandboxed(args)
    from .grade_all import grade_all, results_folder

    course = load(args)
    assignment = course.assignment(args.assignment)
    check_parts(assignment, args.part)
    if args.jobs < 1:
        raise CourseError("--jobs must be at least 1")
    out = Path(args.out)
    cluster = {name: getattr(args, name) for name in SLURM_OPTIONS}
    if args.backend != "slurm" and any(value is not None for value in cluster.values()):
        given = next(name for name, value in cluster.items() if value is not None)
        raise CourseError(f"--{given.replace('_', '-')} is an option of --backend slurm")
    try:
        if args.backend == "slurm":
            from ..core.config import slurm_setting_problem
            from .slurm import grade_all_slurm, settings

            for name, value in cluster.items():
                problem = slurm_setting_problem(name, value) if value is not None else None
                if problem:
                    raise CourseError(f"--{name.replace('_', '-')} {problem}")
            summary = grade_all_slurm(course, assignment, Path(args.submissions), out,
                                      settings(course, **cluster), force=args.force, parts=args.part)
        else:
            summary = grade_all(course, assignment, Path(args.submissions), out, jobs=args.jobs, force=args.force,
                                parts=args.part)
    except KeyboardInterrupt:
        print("course: interrupted; the results written so far are kept, run the same command again to grade "
              "the rest", file=sys.stderr)
        return 130
    print(f"graded {len(summary.graded)} submissions ({len(summary.errors)} could not be graded), "
          f"kept {len(summary.reused)} graded before; gradebook: {out}, results: {results_folder(out)}/")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .grade_all import read_gradebook
    from ..output.report import plot_histograms, render_stats, summarise

    gradebook = Path(args.gradebook)
    rows = read_gradebook(gradebook)
    stats, errors = summarise(rows)
    print(render_stats(stats, errors))
    out = Path(args.out) if args.out else gradebook.with_suffix(".png")
    plot_histograms(rows, stats, out)
    print(f"histograms written to {out}")
    return 0


def cmd_build_autograder(args: argparse.Namespace) -> int:
    from .gradescope import build_autograder

    course = load(args)
    assignment = course.assignment(args.assignment)
    names = build_autograder(course, assignment, Path(args.out))
    print(f"wrote {args.out} ({len(names)} files): upload it as the Gradescope autograder of {assignment.id}")
    return 0


def cmd_run_autograder(args: argparse.Namespace) -> int:
    from .gradescope import DEFAULT_ROOT, run_autograder

    course = load(args)
    root = Path(args.root or os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT)
    data = run_autograder(course, course.assignment(args.assignment), root)
    print(data["output"])
    return 0


def cmd_merge_results(args: argparse.Namespace) -> int:
    from ..output.merge import merge_results, read_json
    from ..output.results import write_json

    merged = merge_results(read_json(Path(args.cpu)), read_json(Path(args.gpu)))
    write_json(Path(args.out), merged)
    print(f"merged {len(merged['extra_data']['merged_gpu_checks'])} GPU checks: "
          f"{merged['score']:g} / {merged['max_score']:g}; written to {args.out}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    course = load(args)
    assignment = course.assignment(args.assignment)
    files = build_release(assignment)
    material = build_material(assignment)   # the notebook's question list, for the grader
    target = assignment.release
    shown = target.relative_to(course.root) if target.is_relative_to(course.root) else target
    if args.check:
        problems = drifted_files(files, target) + [f"{line} (in {MATERIAL})" for line in drifted_files(material, MATERIAL)]
        if problems:
            print(f"{shown} is out of date with {assignment.solution.relative_to(course.root)}; "
                  f"run `course release` to regenerate it:")
            print("\n".join(f"  {line}" for line in problems))
            return 1
        print(f"{shown} is up to date ({len(files)} files)")
        return 0
    write_release(files, target)
    print(f"wrote {len(files)} files to {shown}")
    if material:
        write_release(material, MATERIAL)
        print(f"wrote {len(material)} file of notebook questions to {MATERIAL}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    import json

    from .audit import AUDIT_SEED, audit_entry, load_catalogue, render_audit

    course = load(args)
    assignment = course.assignment(args.assignment)
    root = Path(args.catalogue) if args.catalogue else course.root / "tests"
    entries = load_catalogue(root, assignment, args.part)
    rows = []
    for number, entry in enumerate(entries, start=1):
        rows.append(audit_entry(course, assignment, entry, seed=args.seed or AUDIT_SEED))
        print(f"[{number}/{len(entries)}] {entry.part.id}: {entry.name}: {rows[-1].outcome}", file=sys.stderr, flush=True)
    print(render_audit(rows))
    if args.out:
        Path(args.out).write_text(json.dumps([
            {"entry": row.entry.name, "kind": row.entry.kind, "part": row.entry.part.id, "outcome": row.outcome,
             "ok": row.ok, "points_lost": row.points_lost, "description": row.entry.description,
             "caught_by": [check.spec.id for check in row.failed],
             "feedback": {check.spec.id: check.feedback for check in row.failed}} for row in rows], indent=2) + "\n")
    return 0 if all(row.ok for row in rows) else 1


def _need_tools() -> None:
    """The instructor's tooling (``autograder/tools/``) is left out of the Gradescope zip: say so in one line."""
    if not (Path(__file__).resolve().parent.parent / "tools" / "__init__.py").is_file():
        raise CourseError("this copy of the grader has no instructor tooling (autograder/tools/ is left out of the "
                          "Gradescope zip); run `course persona` and `course serve` from the course repository")


def _persona_settings(course: Course):
    if course.persona is None:
        raise CourseError(f"{course.path} has no persona: section (base model, characters, training defaults)")
    return course.persona


def cmd_persona_train(args: argparse.Namespace) -> int:
    from ..core.config import PersonaCharacter
    from ..tools import persona
    _need_tools()
    from ..core.config import PersonaCharacter
    from ..tools import persona

    course = load(args)
    settings = _persona_settings(course)
    name = args.character or next(iter(settings.characters))
    character = settings.find(name)
    if character is None:
        if not args.book:
            known = ", ".join(c.character for c in settings.characters.values())
            raise CourseError(f"{name!r} is not a character of course.yml ({known}); give --book for a new one")
        character = PersonaCharacter(id=name.lower().replace(" ", "-"), book=args.book, character=name,
                                     aliases=tuple(args.alias or ()), system_prompt=None)
    elif args.book or args.alias:
        character = replace(character, book=args.book or character.book,
                            aliases=tuple(args.alias) if args.alias else character.aliases)
    model = args.model or settings.base_model
    training = settings.training_for(model)
    for key in ("steps", "lr", "r", "alpha", "batch_size", "max_length", "seed"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    out = Path(args.out or f"adapters/{character.id}")
    request = persona.TrainRequest(character, out, model, training, args.download)
    persona.train(course, request)
    return 0


def cmd_persona_eval(args: argparse.Namespace) -> int:
    _need_tools()
    from ..tools import scorecard

    course = load(args)
    _persona_settings(course)
    folder = Path(args.adapters)
    options = {name: value for name, value in (("prompts_per_character", args.prompts),
                                               ("max_new_tokens", args.max_new_tokens)) if value is not None}
    card = scorecard.scorecard(course, folder, args.model, **options,
                               log=lambda line: print(line, file=sys.stderr, flush=True))
    print(scorecard.render(card))
    written = scorecard.write(card, Path(args.out) if args.out else folder)
    print(f"written: {', '.join(map(str, written))}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..tools.serve import serve
    _need_tools()
    from ..tools.serve import serve

    course = load(args)
    serve(course, Path(args.adapters), args.host, args.port, args.model, args.max_resident)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    course = load(args)
    for assignment in course.assignments.values():
        checks = sum(len(part.checks) for part in assignment.parts)
        print(f"{course.path}: assignment {assignment.id!r}: {len(assignment.parts)} parts, {checks} checks, "
              f"{assignment.points:g} points")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="LoRA course: grade, release, audit, train persona "
                                                                "adapters and serve them.")
    parser.add_argument("--course", help="path to course.yml (default: found from the current folder)")
    parser.add_argument("--assignment", help="assignment id (default: the only one)")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one submission (default: the reference solution)")
    grade.add_argument("submission", nargs="?", help="a folder or .zip holding lora_lab/")
    grade.add_argument("--out", help="write Gradescope results.json here")
    grade.add_argument("--seed", type=int, help="seed of the hidden inputs (default: derived from the submission)")
    grade.add_argument("--part", action="append", help="grade only this part (repeatable)")
    grade.add_argument("--only", choices=["gpu"], help="gpu: grade only the checks that need CUDA (on a machine "
                                                       "with a GPU; combine with `merge-results`)")
    grade.add_argument("--hide", action="append", help="also hide this path from the student's code (repeatable; "
                                                        "grade-all hides the class and its results)")
    grade.add_argument("--jobs", type=int, help="parts graded side by side (default: the cores this process may use)")
    grade.add_argument("--allow-unsandboxed", action="store_true",
                       help="grade even where no sandbox wall keeps the reference and the hidden checks from the "
                            "student's code (recorded in the provenance; see autograder/SECURITY.md)")
    grade.set_defaults(run=cmd_grade)

    grade_all = commands.add_parser("grade-all", help="grade every submission of a folder into a gradebook CSV")
    grade_all.add_argument("submissions", help="a folder holding one folder or .zip per submission")
    grade_all.add_argument("--out", default="gradebook.csv", help="the gradebook CSV; results go to "
                                                                   "<its stem>-results/ beside it")
    grade_all.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade_all.add_argument("--force", action="store_true", help="regrade submissions that have results already")
    grade_all.add_argument("--allow-unsandboxed", action="store_true", help="as `grade --allow-unsandboxed`")
    grade_all.add_argument("--part", action="append", help="grade only this part (repeatable)")
    grade_all.add_argument("--backend", choices=["local", "slurm"], default="local",
                           help="local: a process pool on this machine (default); slurm: a job array per tier "
                                "through sbatch (run it on the cluster's login node)")
    slurm = grade_all.add_argument_group("--backend slurm (defaults: cluster: of course.yml)")
    slurm.add_argument("--partition", help="partition of the CPU tier")
    slurm.add_argument("--gpu-partition", help="partition of the GPU tier (--gres=gpu:1)")
    slurm.add_argument("--time", help="time limit of each task (minutes, or [days-]hours:minutes:seconds)")
    slurm.add_argument("--mem", help="memory of each task (e.g. 16G)")
    slurm.add_argument("--cpus-per-task", type=int, help="CPUs of each task")
    grade_all.set_defaults(run=cmd_grade_all)

    report = commands.add_parser("report", help="per-part statistics of a gradebook and a PNG of histograms")
    report.add_argument("gradebook", help="the CSV written by grade-all")
    report.add_argument("--out", help="the PNG (default: the gradebook's name with .png)")
    report.set_defaults(run=cmd_report)

    build = commands.add_parser("build-autograder", help="write the Gradescope autograder zip")
    build.add_argument("--out", default="autograder.zip", help="the zip (default autograder.zip)")
    build.set_defaults(run=cmd_build_autograder)

    run_autograder = commands.add_parser("run-autograder", help="what the zip's run_autograder runs on Gradescope: "
                                                                "grade ROOT/submission into ROOT/results/results.json")
    run_autograder.add_argument("--root", help="Gradescope's root (default $AUTOGRADER_ROOT, else /autograder)")
    run_autograder.set_defaults(run=cmd_run_autograder)

    merge = commands.add_parser("merge-results", help="combine a CPU grade and an `--only gpu` grade of one "
                                                      "submission into one Gradescope result")
    merge.add_argument("cpu", help="results.json of `course grade` without CUDA")
    merge.add_argument("gpu", help="results.json of `course grade --only gpu` on a CUDA machine")
    merge.add_argument("--out", required=True, help="the merged results.json")
    merge.set_defaults(run=cmd_merge_results)

    release = commands.add_parser("release", help="regenerate the student release from the solutions")
    release.add_argument("--check", action="store_true", help="only report whether the release is stale")
    release.set_defaults(run=cmd_release)

    audit = commands.add_parser("audit", help="grade the mutant and alternate catalogue; exit 1 if a mutant "
                                              "survives or a correct answer loses points")
    audit.add_argument("--part", action="append", help="audit only this part (repeatable)")
    audit.add_argument("--catalogue", help="folder holding parts/<part>/mutants/ and parts/<part>/alternates/ (default: tests/)")
    audit.add_argument("--seed", type=int, help="seed of the hidden inputs (default: a fixed audit seed)")
    audit.add_argument("--out", help="also write the audit as JSON here")
    audit.set_defaults(run=cmd_audit)

    persona = commands.add_parser("persona", help="train and evaluate persona adapters from Gutenberg books")
    persona_commands = persona.add_subparsers(dest="persona_command", required=True)
    train = persona_commands.add_parser("train", help="fine-tune one character's adapter (default: the first of course.yml)")
    train.add_argument("--character", help="a character of course.yml (e.g. Holmes), or a new name with --book")
    train.add_argument("--book", help="Gutenberg id or path of a .txt (default: the character's book in course.yml)")
    train.add_argument("--alias", action="append", help="another name of the character (repeatable)")
    train.add_argument("--out", help="adapter folder (default: adapters/<character id>)")
    train.add_argument("--model", help="base model: a folder, a .gguf file, a Hugging Face id or "
                                       "smollm2-135m-instruct (default: course.yml)")
    train.add_argument("--download", action="store_true", help="download the book from gutenberg.org if not local")
    for name, kind in (("steps", int), ("lr", float), ("r", int), ("alpha", float), ("batch_size", int),
                       ("max_length", int), ("seed", int)):
        train.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=f"override training.{name}")
    train.set_defaults(run=cmd_persona_train)
    evaluate = persona_commands.add_parser("eval", help="the persona scorecard: perplexity matrix and dominance, "
                                                       "who the replies sound like, their diversity")
    evaluate.add_argument("--adapters", default="adapters", help="folder of adapters trained by `persona train`")
    evaluate.add_argument("--model", help="base model (default: the one the adapters were trained on)")
    evaluate.add_argument("--out", help="folder for scorecard.json and scorecard.png (default: --adapters)")
    evaluate.add_argument("--prompts", type=int, help="held-out user turns per character that every "
                                                                 "adapter answers (default: 4)")
    evaluate.add_argument("--max-new-tokens", type=int, help="tokens per reply at most (default: 48)")
    evaluate.set_defaults(run=cmd_persona_eval)

    serve = commands.add_parser("serve", help="the multi-character chat service on the adapters of `persona train`")
    serve.add_argument("--adapters", default="adapters", help="folder of adapters trained by `persona train`")
    serve.add_argument("--model", help="base model (default: the one the adapters were trained on)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-resident", type=int, help="adapters kept loaded at once (default: all)")
    serve.set_defaults(run=cmd_serve)

    from . import export, similarity   # one module per command: its options and its run

    similarity.add_parser(commands, load)
    export.add_parser(commands, load)

    validate = commands.add_parser("validate", help="check course.yml and report every problem")
    validate.set_defaults(run=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    # transformers and peft warn about their own deprecations; users of this tool cannot act on them
    warnings.filterwarnings("ignore", category=FutureWarning)
    args = build_parser().parse_args(argv)
    try:
        die_with_parent()
        return args.run(args)
    except ConfigError as error:
        print(f"course: error: {error.path} is invalid:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except CourseError as error:   # raised where the misuse is found; anything else is a bug, shown as one
        print(f"course: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
