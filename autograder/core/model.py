"""What a hidden check is: a plan of probe calls on seeded inputs, and a judgement of what came back.

A check never sees student objects. ``plan`` builds the inputs from a seeded random generator; the
sandboxed worker runs the probes on the student's code and the grading process runs the same probes on
the reference; ``judge`` compares the two lists of :class:`Outcome` and returns a :class:`Verdict`
whose feedback a student can act on; the judge (``engine.judge``) makes it a :class:`CheckResult`.
The registry ``CHECKS`` is filled by the parts (``autograder/parts/<part>/checks.py``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..runtime.probes import probe_name
from .config import CheckSpec


@dataclass(frozen=True)
class ProbeCall:
    """One probe to run: its name (see ``runtime.probes.get_probe``; a probe function is turned into its
    name), its keyword arguments, and the
    module of the student's package it runs on (``None``: the part's first module). ``context`` is for
    the judge only (an answer key, a label) and never leaves the grading process. ``reads`` names files
    or folders outside the worker's folder that the probe reads (a base model's folder): the sandbox
    hands them to the worker read-only (``sandbox.policy``); nothing else outside it is visible."""

    probe: str
    args: dict[str, Any] = field(default_factory=dict)
    module: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    inputs: str | None = None   # a function of the probes, run by the grader, that writes input files
                                # from ``args`` into a folder handed to the probe as ``inputs``; the
                                # grader counts their opens (``Outcome.observed``)
    bounded: str | None = None  # a function of the probes that makes the call's secret inputs from ``args``
                                # and ``context``; the grader hands them over (``inputs``) only when the probe
                                # asks, after reading which packages every process of the worker maps and
                                # (with ``args["headroom_mb"]``) limiting each to that much more memory
                                # (``sandbox.bound``; ``Outcome.observed["grant"]``)
    served: str | None = None   # a function of the probes that gives, from ``args``, the HTTP requests
                                # ``{method, path, json}`` the grading process itself sends to what the probe
                                # serves on the Unix socket ``out/NNNN.sock`` once it asks (as a bounded call
                                # does); the answers are ``Outcome.observed["grant"]["served"]``
                                # (``sandbox.served``), the probe gets ``{"stop": true}``
    reads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # a check names its probes by the functions themselves (``ProbeCall(probes.forward, ...)``): the
        # name sent to the worker is derived here, so it is written nowhere else
        for name in ("probe", "inputs", "bounded", "served"):
            value = getattr(self, name)
            if callable(value):
                object.__setattr__(self, name, probe_name(value))


@dataclass(frozen=True)
class Outcome:
    """What one probe returned, as plain data.

    ``ok`` with ``value`` when the probe finished; ``error`` (type, message, where) when the student's
    code raised; ``missing`` (a sentence) when the probe never finished: a crash, a timeout, a failed
    import or unreadable output. ``observed`` is filled in by the grader alone.
    """

    ok: bool
    value: Any = None
    error: dict[str, str] | None = None
    missing: str | None = None
    observed: dict[str, Any] | None = None   # measured by the grading process, never by the worker:
                                             # {"opens": {input file: times opened}} for calls with inputs
                                             # and {"grant": {...} or None} for bounded calls


@dataclass(frozen=True)
class Verdict:
    """The judgement of one check: the fraction of its points earned, and feedback for the student."""

    fraction: float
    feedback: str = ""


@dataclass(frozen=True)
class CheckResult:
    """The result of one check of a grade, as reported: its score of ``spec.points`` and feedback."""

    spec: CheckSpec
    title: str
    score: float
    status: str          # "passed", "failed" or "not run"
    feedback: str
    staff: str = ""      # for the staff log only, never the feedback: the traceback of a judge that failed

    @property
    def max_score(self) -> float:
        """Points this check counts for; 0 when it was not run (e.g. a GPU check without a GPU)."""
        return 0.0 if self.status == "not run" else self.spec.points


@dataclass(frozen=True)
class PlannedCheck:
    """One check of a grade with the probe calls it planned (a part's calls run together, in this order)."""

    spec: CheckSpec
    calls: list[ProbeCall]


class Fail(Exception):
    """Raised by judging helpers to end a check with zero points and the given feedback."""


CLAIM_POINTS = 1.0   # the most a check loses on a claim (a fact the grading process cannot verify)


class Claim(Fail):
    """Raised, after every verifiable part of a check passed, for a failure seen only in a fact the worker
    reports about itself (whether the student's code modified its arguments, ...), which the student's code
    could report otherwise. The check loses ``CLAIM_POINTS`` (all its points when it has no more), so a
    lie about such a fact gains at most that; SECURITY.md lists every claim."""


class Check:
    """Base class of hidden checks. Subclasses set ``id`` and ``title`` and implement ``plan``/``judge``.

    A check of ``parts/<part>/checks.py`` sets ``id = "<name>"``, as ``course.yml`` lists it under that
    part; :func:`register` makes it ``"<part>/<name>"``, the key of the registry.
    """

    id: ClassVar[str]
    title: ClassVar[str]

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        raise NotImplementedError

    def judge(self, calls: list[ProbeCall], got: list[Outcome], want: list[Outcome]) -> Verdict | None:
        """Compare student outcomes ``got`` with reference outcomes ``want``.

        Return ``None`` for full marks, raise :class:`Fail` for zero, or return a :class:`Verdict`
        for partial credit.
        """
        raise NotImplementedError


CHECKS: dict[str, Check] = {}


def part_of(module: str) -> str:
    """The part a module of ``parts/<part>/`` belongs to (``autograder.parts.lora.checks``: ``lora``)."""
    names = module.split(".")
    if len(names) < 3 or names[-3] != "parts":
        raise RuntimeError(f"{module} is not a module of a part folder (parts/<part>/)")
    return names[-2]


def register(cls: type[Check]) -> type[Check]:
    """Class decorator adding a check to the registry under ``"<part>/<id>"``, the part being the folder
    of the module that defines it."""
    if "/" not in cls.id:
        cls.id = f"{part_of(cls.__module__)}/{cls.id}"
    if cls.id in CHECKS:
        raise RuntimeError(f"duplicate check id {cls.id!r}")
    CHECKS[cls.id] = cls()
    return cls
