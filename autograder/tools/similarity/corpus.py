"""A class's submissions (and the starter code) read as documents, through the grader's own safe reader
(:func:`autograder.engine.submission.open_submission`: regular files only, no links followed, bounded in
files, bytes and depth, a zip unpacked within the same limits). A submission that cannot be read is
listed with the reason, never fatal."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...core.config import Assignment
from ...engine.submission import SubmissionError, open_submission
from .index import ClassIndex, Pair
from .tokens import Document, document


def documents_of(root: Path, package: str) -> list[Document]:
    """Every module of ``root/package`` (``.py``, sub-folders included, by relative name) and every
    notebook beside the package, in name order."""
    found = []
    folder = root / package
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            found.append(document(path.relative_to(folder).as_posix(), path.read_bytes()))
    for path in sorted(root.glob("*.ipynb")):
        if path.is_file() and not path.is_symlink():
            found.append(document(path.name, path.read_bytes()))
    return found


def starter_documents(assignment: Assignment) -> list[Document]:
    """The student release: its package's modules (stubs and docstrings) and its notebooks as handed out."""
    return documents_of(assignment.release, assignment.package)


def read_submission(path: Path, package: str) -> list[Document]:
    """The documents of one submission (a folder or a .zip); :class:`SubmissionError` when it cannot be read."""
    with open_submission(path, package) as submission:
        return documents_of(submission.root, package)


@dataclass
class Analysis:
    """What ``course similarity`` found in a class."""

    names: list[str]
    paths: dict[str, Path]
    pairs: list[Pair]                     # every pair of readable submissions, most similar first
    threshold: float
    index: ClassIndex
    unreadable: dict[str, str] = field(default_factory=dict)   # name: why
    empty: list[str] = field(default_factory=list)             # read, but nothing of their own
    compared_in_full: int = 0

    def flagged(self) -> list[Pair]:
        return [pair for pair in self.pairs if pair.similarity >= self.threshold]


class Groups:
    """Submissions joined into groups pair by pair (union-find with path halving)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def root(self, name: str) -> str:
        parent = self.parent
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(self, left: str, right: str) -> bool:
        """Join the groups of ``left`` and ``right``; ``False`` when they were one group already."""
        a, b = self.root(left), self.root(right)
        self.parent[a] = b
        return a != b


def clusters(pairs: list[Pair]) -> list[list[str]]:
    """Groups of submissions joined by the given (flagged) pairs, largest first, names sorted."""
    joined = Groups()
    for pair in pairs:
        joined.join(pair.left, pair.right)
    groups: dict[str, list[str]] = {}
    for name in joined.parent:
        groups.setdefault(joined.root(name), []).append(name)
    return sorted((sorted(group) for group in groups.values()), key=lambda group: (-len(group), group))


_FORKED: ClassIndex | None = None    # the index a forked worker measures pairs of (inherited, not copied)


def _measure(chunk: list[tuple[int, int]]) -> list[Pair]:
    assert _FORKED is not None
    return [_FORKED.compare(i, j) for i, j in chunk]


def _compare_all(index: ClassIndex, pairs: list[tuple[int, int]], jobs: int) -> list[Pair]:
    """Every pair measured, on ``jobs`` forked processes when there are many (the index is shared by
    fork, copy-on-write; each worker sends back its pairs' measures only)."""
    global _FORKED
    if jobs <= 1 or len(pairs) < 2000 or "fork" not in multiprocessing.get_all_start_methods():
        return [index.compare(i, j) for i, j in pairs]
    size = max(500, len(pairs) // (jobs * 8))
    chunks = [pairs[start:start + size] for start in range(0, len(pairs), size)]
    _FORKED = index
    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            return [pair for measured in pool.map(_measure, chunks) for pair in measured]
    finally:
        _FORKED = None


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # pragma: no cover - not Linux
        return os.cpu_count() or 1


def analyse(submissions: list[tuple[str, Path]], assignment: Assignment, threshold: float,
            max_share: float | None = None, progress: Callable[[str], None] | None = None,
            jobs: int = 1) -> Analysis:
    """Read every submission, index them, measure every pair that shares a fingerprint (on ``jobs``
    processes)."""
    index = ClassIndex(starter_documents(assignment), max_share=max_share)
    unreadable: dict[str, str] = {}
    names, empty = [], []
    paths = dict(submissions)
    for name, path in submissions:
        try:
            documents = read_submission(path, assignment.package)
        except SubmissionError as error:
            unreadable[name] = str(error)
        else:
            entry = index.add(name, documents)
            names.append(name)
            if not entry.own.any():
                empty.append(name)
        if progress:
            progress(name)
    index.build()
    candidates = index.candidates()
    measured = dict(zip(candidates, _compare_all(index, candidates, jobs)))
    pairs = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            pair = measured.get((i, j))
            if pair is None:
                left, right = index.entries[i], index.entries[j]
                pair = Pair(left.name, right.name, 0.0, 0, 0, 0, 0, int(left.own.sum()), int(right.own.sum()))
            pairs.append(pair)
    pairs.sort(key=lambda pair: (-pair.similarity, -pair.longest_fragment, pair.left, pair.right))
    return Analysis(names=names, paths=paths, pairs=pairs, threshold=threshold, index=index,
                    unreadable=unreadable, empty=empty, compared_in_full=len(candidates))
