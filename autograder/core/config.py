"""Load and validate ``course.yml``, the single source of the course's structure and points.

Every problem is collected and reported with the file, the key and the reason, so an instructor can fix
them all at once; nothing here raises a bare traceback at a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from .errors import CourseError
from .models import PACKAGED

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class ConfigError(CourseError):
    """``course.yml`` is invalid; ``problems`` lists every ``key: reason``."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {problem}" for problem in problems))


@dataclass(frozen=True)
class CheckSpec:
    id: str            # "<part>/<name>", the key of the check in the registry
    points: float
    gpu: bool
    visibility: str


# What a warm zygote may import before any student code exists: libraries, never course code.
WARM_LIBRARIES = ("torch", "transformers", "peft", "datasets", "fastapi", "safetensors", "numpy")


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    modules: tuple[str, ...]   # dotted, e.g. ("lora_lab.matmul",); a part may grade several modules
    points: float
    time_budget: float
    memory_mb: int
    checks: tuple[CheckSpec, ...]
    notebook: str | None = None  # a notebook part grades this notebook of the submission, and no module
    warm: tuple[str, ...] = ()   # libraries its worker finds imported (a warm zygote, autograder.sandbox.zygote)

    @property
    def module(self) -> str:
        """The part's first (usually only) module, dotted; empty for a notebook part."""
        return self.modules[0] if self.modules else ""

    @property
    def module_name(self) -> str:
        """The first module's name inside the package, e.g. ``matmul``."""
        return self.module.split(".", 1)[-1]

    @property
    def module_names(self) -> tuple[str, ...]:
        """Every module's name inside the package, e.g. ``("persona", "finetune")``."""
        return tuple(module.split(".", 1)[1] for module in self.modules)


@dataclass(frozen=True)
class LatePolicy:
    """``late:`` of an assignment in course.yml: what ``course export`` deducts for lateness.

    A submission after ``due`` plus ``grace_minutes`` is late by whole days, counted up (one minute past
    the grace is one day); each day deducts ``per_day`` of the assignment's points, at most ``max_deduction``
    of them; after ``cutoff`` (if set) it earns nothing. An extension moves ``due`` and ``cutoff`` alike."""

    due: datetime                        # aware (the time zone of course.yml)
    grace_minutes: float = 0.0
    per_day: float = 0.0                 # share of the points deducted per late day, 0..1
    max_deduction: float = 1.0           # the cap of all deductions, a share of the points, 0..1
    cutoff: datetime | None = None       # no credit after it (aware)


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    package: str
    solution: Path     # absolute
    release: Path      # absolute
    visibility: str
    parts: tuple[Part, ...]
    late: LatePolicy | None = None

    @property
    def points(self) -> float:
        return sum(part.points for part in self.parts)

    def part(self, part_id: str) -> Part:
        for part in self.parts:
            if part.id == part_id:
                return part
        raise CourseError(f"unknown part {part_id!r}; the parts of {self.id} are "
                          f"{', '.join(part.id for part in self.parts)}")


@dataclass(frozen=True)
class PersonaCharacter:
    id: str               # short name of the adapter, e.g. "holmes"
    book: str             # Gutenberg id or path
    character: str        # the name extract_lines looks for
    aliases: tuple[str, ...]
    system_prompt: str | None


@dataclass(frozen=True)
class PersonaSettings:
    """``persona:`` of course.yml: the base model, the book library, training defaults and characters."""

    base_model: str
    library: Path | None
    training: dict[str, float]
    characters: dict[str, PersonaCharacter]
    # a base model's own settings where they differ from ``training`` (``training_by_model:`` of course.yml)
    training_by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    def training_for(self, base_model: str) -> dict[str, float]:
        """The training settings of adapters for ``base_model`` (a name such as ``gemma3-270m``; a folder
        or file gets ``training`` as it is): ``training`` with that model's own settings over it."""
        return {**self.training, **self.training_by_model.get(base_model, {})}

    def find(self, name: str) -> PersonaCharacter | None:
        """A character by id or by name, ignoring case."""
        for character in self.characters.values():
            if name.lower() in (character.id.lower(), character.character.lower()):
                return character
        return None


@dataclass(frozen=True)
class ClusterSettings:
    """``cluster:`` of course.yml: the defaults of ``course grade-all --backend slurm`` (``None``: the
    cluster's own default, or for ``time`` the grader's per-submission timeout)."""

    partition: str | None = None        # CPU tier
    gpu_partition: str | None = None    # GPU tier (--gres=gpu:1)
    time: str | None = None             # Slurm's formats: minutes, [days-]hours:minutes:seconds, ...
    mem: str | None = None              # e.g. 16G
    cpus_per_task: int | None = None


# sbatch --time: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours[:minutes[:seconds]]"
SLURM_TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d+(:\d{1,2}){0,2}")
SLURM_MEMORY = re.compile(r"\d+[KMGT]?")


def slurm_setting_problem(name: str, value: object) -> str | None:
    """Why ``value`` is not a valid ``cluster.<name>`` (or ``--<name>`` of grade-all), or ``None``."""
    if name in ("partition", "gpu_partition"):
        ok = isinstance(value, str) and re.fullmatch(r"[\w.-]+(,[\w.-]+)*", value) is not None
        return None if ok else f"must be a partition name (letters, digits, '_', '-', '.'), got {value!r}"
    if name == "time":
        ok = isinstance(value, (str, int)) and not isinstance(value, bool) and SLURM_TIME.fullmatch(str(value))
        return None if ok else (f"must be a Slurm time limit (minutes, or [days-]hours:minutes:seconds), "
                                f"got {value!r}")
    if name == "mem":
        ok = isinstance(value, (str, int)) and not isinstance(value, bool) and SLURM_MEMORY.fullmatch(str(value))
        return None if ok else f"must be a memory size like 16G or 8000M, got {value!r}"
    if name == "cpus_per_task":
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if ok else f"must be a whole number greater than 0, got {value!r}"
    return "unknown setting"


@dataclass(frozen=True)
class SimilaritySettings:
    """``similarity:`` of course.yml: the defaults of ``course similarity``."""

    threshold: float = 0.45            # pairs at or above it are flagged (a reason to look, never a verdict)
    max_share: float | None = None     # k-grams in more than this share of the class count for nothing


# The settings of persona.training; their values are written once, in course.yml (there are no defaults here).
TRAINING_KEYS = ("r", "alpha", "dropout", "steps", "lr", "batch_size", "max_length", "seed", "held_out")


@dataclass(frozen=True)
class Course:
    path: Path
    root: Path
    name: str
    short: str
    assignments: dict[str, Assignment]
    persona: PersonaSettings | None = None
    cluster: ClusterSettings = ClusterSettings()
    similarity: SimilaritySettings = SimilaritySettings()

    def assignment(self, assignment_id: str | None = None) -> Assignment:
        """The named assignment, or the only one when ``assignment_id`` is ``None``."""
        if assignment_id is None:
            return next(iter(self.assignments.values()))
        if assignment_id not in self.assignments:
            raise CourseError(f"unknown assignment {assignment_id!r}; {self.path.name} has "
                              f"{', '.join(self.assignments)}")
        return self.assignments[assignment_id]


class _Reader:
    """Typed access to a YAML mapping that records problems instead of raising."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def mapping(self, value: Any, key: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            self.problems.append(f"{key}: must be a mapping, got {type(value).__name__}")
            return {}
        for name in sorted(set(value) - allowed, key=str):
            self.problems.append(f"{key}.{name}: unknown key (allowed: {', '.join(sorted(allowed))})")
        for name in sorted(required - set(value)):
            self.problems.append(f"{key}.{name}: missing required key")
        return value

    def text(self, mapping: dict, name: str, key: str, default: str | None = None) -> str:
        value = mapping.get(name, default)
        if not isinstance(value, str) or not value.strip():
            if name in mapping or default is None:
                self.problems.append(f"{key}.{name}: must be a non-empty string, got {value!r}")
            return default or ""
        return value

    def number(self, mapping: dict, name: str, key: str, default: float | None = None, minimum: float = 0.0) -> float:
        value = mapping.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= minimum:
            if name in mapping or default is None:
                self.problems.append(f"{key}.{name}: must be a number greater than {minimum:g}, got {value!r}")
            return default or 0.0
        return value

    def flag(self, mapping: dict, name: str, key: str) -> bool:
        value = mapping.get(name, False)
        if not isinstance(value, bool):
            self.problems.append(f"{key}.{name}: must be true or false, got {value!r}")
            return False
        return value

    def visibility(self, mapping: dict, key: str, default: str) -> str:
        value = mapping.get("visibility", default)
        if value not in VISIBILITIES:
            self.problems.append(f"{key}.visibility: must be one of {', '.join(VISIBILITIES)}, got {value!r}")
            return default
        return value


def load_course(path: Path | str, known_checks: set[str] | None = None) -> Course:
    """Load and validate ``course.yml``; raises :class:`ConfigError` listing every problem.

    ``known_checks`` is the set of hidden check ids (``part/name``) that exist, checked both ways: a
    listed check must exist, and an existing check of a listed part must be listed. ``None`` checks the
    file alone; :func:`autograder.parts.load_course` passes the registry of the parts.
    """
    path = Path(path).resolve()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(path, [f"cannot be read: {error.strerror or error}"]) from None
    except yaml.YAMLError as error:
        raise ConfigError(path, [f"is not valid YAML: {error}"]) from None

    read = _Reader()
    root = path.parent
    top = read.mapping(data, "(top level)", {"course", "assignments", "persona", "cluster", "similarity"},
                       {"course", "assignments"})
    course = read.mapping(top.get("course", {}), "course", {"name", "short"}, {"name"})
    name = read.text(course, "name", "course")
    short = read.text(course, "short", "course", default="course")
    assignments: dict[str, Assignment] = {}
    raw_assignments = top.get("assignments", {})
    if isinstance(raw_assignments, dict) and not raw_assignments:
        read.problems.append("assignments: must declare at least one assignment")
    for assignment_id, raw in (raw_assignments.items() if isinstance(raw_assignments, dict) else []):
        assignment = _load_assignment(read, root, str(assignment_id), raw, known_checks)
        if assignment is not None:
            assignments[assignment.id] = assignment
    if not isinstance(raw_assignments, dict):
        read.problems.append(f"assignments: must be a mapping, got {type(raw_assignments).__name__}")
    persona = _load_persona(read, root, top["persona"]) if "persona" in top else None
    cluster = _load_cluster(read, top["cluster"]) if "cluster" in top else ClusterSettings()
    similarity = _load_similarity(read, top["similarity"]) if "similarity" in top else SimilaritySettings()
    if read.problems:
        raise ConfigError(path, read.problems)
    return Course(path=path, root=root, name=name, short=short, assignments=assignments, persona=persona,
                  cluster=cluster, similarity=similarity)


def _share(read: _Reader, data: dict, name: str, key: str, default: float | None) -> float | None:
    """A number in (0, 1] at ``key.name``, or ``default`` when absent."""
    if name not in data:
        return default
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        read.problems.append(f"{key}.{name}: must be a number above 0 and at most 1, got {value!r}")
        return default
    return float(value)


def _load_similarity(read: _Reader, raw: Any) -> SimilaritySettings:
    data = read.mapping(raw, "similarity", {"threshold", "max_share"}, set())
    default = SimilaritySettings()
    return SimilaritySettings(threshold=_share(read, data, "threshold", "similarity", default.threshold),
                              max_share=_share(read, data, "max_share", "similarity", default.max_share))


def _moment(read: _Reader, value: Any, key: str, zone: Any) -> datetime | None:
    """A date and time of course.yml (``2026-12-11 23:59`` or ISO 8601) in the time zone ``zone``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, 23, 59, 59)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            read.problems.append(f"{key}: must be a date and time like 2026-12-11 23:59, got {value!r}")
            return None
    if moment.tzinfo is not None:
        read.problems.append(f"{key}: give the time without an offset; the zone is late.timezone")
        return None
    return moment.replace(tzinfo=zone) if zone is not None else None


def _load_late(read: _Reader, raw: Any, key: str) -> LatePolicy | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    data = read.mapping(raw, key, {"due", "timezone", "grace_minutes", "per_day", "max_deduction", "cutoff"},
                        {"due", "timezone"})
    zone = None
    if "timezone" in data:
        try:
            zone = ZoneInfo(str(data["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            read.problems.append(f"{key}.timezone: not a time zone name like Europe/Brussels, got {data['timezone']!r}")
    due = _moment(read, data["due"], f"{key}.due", zone) if "due" in data else None
    cutoff = _moment(read, data["cutoff"], f"{key}.cutoff", zone) if "cutoff" in data else None
    grace = data.get("grace_minutes", 0)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
        read.problems.append(f"{key}.grace_minutes: must be a number of minutes, 0 or more, got {grace!r}")
        grace = 0
    per_day = data.get("per_day", 0)
    if isinstance(per_day, bool) or not isinstance(per_day, (int, float)) or not 0 <= per_day <= 1:
        read.problems.append(f"{key}.per_day: must be a share of the points from 0 to 1, got {per_day!r}")
        per_day = 0
    cap = _share(read, data, "max_deduction", key, 1.0)
    if due is not None and cutoff is not None and cutoff < due + timedelta(minutes=grace):
        read.problems.append(f"{key}.cutoff: must not come before the due date and its grace")
    if due is None:
        return None
    return LatePolicy(due=due, grace_minutes=float(grace), per_day=float(per_day), max_deduction=cap, cutoff=cutoff)


def _load_cluster(read: _Reader, raw: Any) -> ClusterSettings:
    names = set(ClusterSettings.__dataclass_fields__)
    data = read.mapping(raw, "cluster", names, set())
    values = {}
    for name, value in data.items():
        if name not in names or value is None:
            continue
        problem = slurm_setting_problem(name, value)
        if problem:
            read.problems.append(f"cluster.{name}: {problem}")
        else:
            values[name] = value if name == "cpus_per_task" else str(value)
    return ClusterSettings(**values)


def _load_assignment(read: _Reader, root: Path, assignment_id: str, raw: Any,
                     known_checks: set[str]) -> Assignment | None:
    key = f"assignments.{assignment_id}"
    data = read.mapping(raw, key, {"title", "package", "solution", "release", "visibility", "parts", "late"},
                        {"title", "package", "solution", "release", "parts"})
    package = read.text(data, "package", key)
    solution = root / read.text(data, "solution", key)
    release = root / read.text(data, "release", key)
    if "solution" in data and not solution.is_dir():
        read.problems.append(f"{key}.solution: folder {solution} does not exist")
    visibility = read.visibility(data, key, "visible")
    parts = []
    raw_parts = data.get("parts", [])
    if not isinstance(raw_parts, list) or not raw_parts:
        read.problems.append(f"{key}.parts: must be a non-empty list of parts")
        raw_parts = []
    seen: set[str] = set()
    for index, raw_part in enumerate(raw_parts):
        part = _load_part(read, f"{key}.parts[{index}]", raw_part, package, solution, visibility, known_checks)
        if part is None:
            continue
        if part.id in seen:
            read.problems.append(f"{key}.parts[{index}].id: duplicate part id {part.id!r}")
        seen.add(part.id)
        parts.append(part)
    late = _load_late(read, data["late"], f"{key}.late") if "late" in data else None
    return Assignment(id=assignment_id, title=read.text(data, "title", key), package=package,
                      solution=solution, release=release, visibility=visibility, parts=tuple(parts), late=late)


def _load_part(read: _Reader, key: str, raw: Any, package: str, solution: Path, visibility: str,
               known_checks: set[str]) -> Part | None:
    data = read.mapping(raw, key, {"id", "title", "module", "notebook", "points", "time_budget", "memory_mb", "checks",
                                   "warm"},
                        {"id", "title", "points", "checks"} | ({"notebook"} if isinstance(raw, dict) and "notebook" in raw else {"module"}))
    if not data:
        return None
    part_id = read.text(data, "id", key)
    notebook = _notebook(read, data, key, solution) if "notebook" in data else None
    modules = () if notebook is not None and "module" not in data else _modules(read, data, key, package, solution)
    points = read.number(data, "points", key)
    checks = []
    raw_checks = data.get("checks", [])
    if not isinstance(raw_checks, list) or not raw_checks:
        read.problems.append(f"{key}.checks: must be a non-empty list of checks")
        raw_checks = []
    for index, raw_check in enumerate(raw_checks):
        check_key = f"{key}.checks[{index}]"
        check = read.mapping(raw_check, check_key, {"id", "points", "gpu", "visibility"}, {"id", "points"})
        if not check:
            continue
        check_id = f"{part_id}/{read.text(check, 'id', check_key)}"
        if known_checks is not None and check_id not in known_checks:
            read.problems.append(f"{check_key}.id: no hidden check named {check_id!r} exists in "
                                 f"autograder/parts/{part_id}/checks.py")
        if any(existing.id == check_id for existing in checks):
            read.problems.append(f"{check_key}.id: duplicate check {check_id!r}")
        checks.append(CheckSpec(id=check_id, points=read.number(check, "points", check_key),
                                gpu=read.flag(check, "gpu", check_key),
                                visibility=read.visibility(check, check_key, visibility)))
    listed = {check.id for check in checks}
    for check_id in sorted(known_checks or ()):
        if check_id.startswith(f"{part_id}/") and check_id not in listed and raw_checks:
            read.problems.append(f"{key}.checks: hidden check {check_id!r} is registered in autograder/parts/{part_id}/ "
                                 f"but not listed here, so it would never run (list it with its points, or delete it)")
    total = sum(check.points for check in checks)
    if checks and points and abs(total - points) > 1e-9:
        read.problems.append(f"{key}.points: is {points:g} but its checks add up to {total:g}")
    return Part(id=part_id, title=read.text(data, "title", key), modules=modules, points=points,
                time_budget=read.number(data, "time_budget", key, default=60),
                memory_mb=int(read.number(data, "memory_mb", key, default=2048, minimum=255)),
                checks=tuple(checks), notebook=notebook, warm=_warm(read, data, key))


def _warm(read: _Reader, data: dict, key: str) -> tuple[str, ...]:
    """``warm``: libraries of :data:`WARM_LIBRARIES` the part's worker finds already imported."""
    names = data.get("warm", [])
    if not isinstance(names, list) or any(name not in WARM_LIBRARIES for name in names):
        read.problems.append(f"{key}.warm: must be a list of libraries among {', '.join(WARM_LIBRARIES)}, got {names!r}")
        return ()
    return tuple(sorted(set(names)))


def _notebook(read: _Reader, data: dict, key: str, solution: Path) -> str:
    """``notebook``: the file name of a notebook (``.ipynb``) in the solution folder."""
    name = read.text(data, "notebook", key)
    if name and (not name.endswith(".ipynb") or "/" in name):
        read.problems.append(f"{key}.notebook: must be the file name of a .ipynb notebook, got {name!r}")
    elif name and solution.is_dir() and not (solution / name).is_file():
        read.problems.append(f"{key}.notebook: {name} does not exist in {solution}")
    return name


def _modules(read: _Reader, data: dict, key: str, package: str, solution: Path) -> tuple[str, ...]:
    """``module``: one dotted module name of the package, or a list of them."""
    raw = data.get("module")
    names = raw if isinstance(raw, list) and raw else [raw]
    modules = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            read.problems.append(f"{key}.module: must be a module name or a list of them, got {raw!r}")
        elif not name.startswith(package + ".") or name.count(".") != 1:
            read.problems.append(f"{key}.module: must name a module of package {package!r} like "
                                 f"'{package}.name', got {name!r}")
        elif solution.is_dir() and not (solution / (name.replace(".", "/") + ".py")).is_file():
            read.problems.append(f"{key}.module: {name} has no file {name.replace('.', '/')}.py in {solution}")
        else:
            modules.append(name)
    return tuple(modules) or ("",)


def _load_persona(read: _Reader, root: Path, raw: Any) -> PersonaSettings:
    data = read.mapping(raw, "persona", {"base_model", "library", "training", "training_by_model", "characters"},
                        {"characters", "training"})
    training = _training(read, data.get("training", {}), "persona.training", set(TRAINING_KEYS))
    by_model = data.get("training_by_model", {})
    if not isinstance(by_model, dict):
        read.problems.append("persona.training_by_model: must map base model names to training settings")
        by_model = {}
    training_by_model = {str(model): _training(read, given, f"persona.training_by_model.{model}", set())
                         for model, given in by_model.items()}
    for model in training_by_model:   # a misspelt name would silently train with `training` instead
        if model not in PACKAGED and "/" not in model:
            read.problems.append(f"persona.training_by_model.{model}: no such base model (the named ones are "
                                 f"{', '.join(sorted(PACKAGED))}; else a Hugging Face id, owner/name)")
    characters = {}
    raw_characters = data.get("characters", {})
    if not isinstance(raw_characters, dict) or not raw_characters:
        read.problems.append("persona.characters: must map character ids to {book, character}")
        raw_characters = {}
    for character_id, raw_character in raw_characters.items():
        key = f"persona.characters.{character_id}"
        entry = read.mapping(raw_character, key, {"book", "character", "aliases", "system_prompt"}, {"book", "character"})
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
            read.problems.append(f"{key}.aliases: must be a list of names")
            aliases = []
        characters[str(character_id)] = PersonaCharacter(
            id=str(character_id), book=str(entry.get("book", "")), character=read.text(entry, "character", key),
            aliases=tuple(aliases), system_prompt=entry.get("system_prompt"))
    library = data.get("library")
    return PersonaSettings(base_model=read.text(data, "base_model", "persona", default="smollm2-135m-instruct"),
                           library=(root / library) if isinstance(library, str) else None,
                           training=training, characters=characters, training_by_model=training_by_model)


def _training(read: _Reader, raw: Any, key: str, required: set[str]) -> dict[str, float]:
    """Training settings at ``key``: numbers of :data:`TRAINING_KEYS`, those in ``required`` present."""
    given, training = read.mapping(raw, key, set(TRAINING_KEYS), required), {}
    for name in TRAINING_KEYS:
        if name in given:
            minimum = -1 if name in ("seed", "dropout") else 0
            training[name] = read.number(given, name, key, minimum=minimum)
    if not 0 < training.get("held_out", 0.5) < 1 or not 0 <= training.get("dropout", 0) < 1:
        read.problems.append(f"{key}: held_out must be in (0, 1) and dropout in [0, 1)")
    return training
