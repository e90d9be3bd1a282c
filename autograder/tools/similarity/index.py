"""The class's fingerprints in one inverted index, and the measure of a pair of submissions.

A class of 500 has 124,750 pairs; comparing each in full is what makes other tools slow or run out of
memory. Here each submission is reduced once to arrays of k-gram numbers (a few tens of kB), the winnowed
fingerprints of all submissions go into one inverted index (fingerprint -> submissions holding it), and
only the pairs that share a fingerprint there are measured on their k-grams (:meth:`ClassIndex.compare`);
the others share no run of ``K + WINDOW - 1`` tokens and get zeros.

Two kinds of k-gram count for nothing anywhere: those of the **starter code** (the student release: stubs,
docstrings, the notebook as handed out), and, when :attr:`ClassIndex.max_share` is set, those present in
more than that share of the class (MOSS's ``-m``: code everybody writes alike).

The measures of a pair, Dolos' names (counts in tokens, the starter's left out):

* ``left_covered`` / ``right_covered``: tokens of each side inside a k-gram that the other side has too;
* ``total_overlap``: the smaller of the two; ``longest_fragment``: the longest run of covered tokens (the
  smaller of the two sides');
* ``similarity``: ``(left_covered + right_covered) / (left_total + right_total)`` over the whole
  submissions, or, where larger, the same over one document of that name on both sides (a module or the
  notebook) holding at least :data:`MIN_DOCUMENT_TOKENS` of the student's own tokens on each side, with
  :data:`DOCUMENT_PRIOR` unmatched tokens added to each side: a copy of one module is as much a copy when
  the rest was written alone, and a short module alone needs more evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fingerprints import K, WINDOW, covered, kgram_hashes, longest_run, token_ids, winnow
from .tokens import Document

ALL = slice(None)
MIN_RUN = 16                 # tokens of a matching run at least: shorter ones are idioms anyone writes
MIN_DOCUMENT_TOKENS = 40     # a document's own tokens (per side) before it can make a pair similar alone
DOCUMENT_PRIOR = 60          # tokens of no match added to each side of one document: independent solutions
                             # of a 20-line module look alike more often than those of a 200-line one


@dataclass
class Entry:
    """One submission as the index holds it."""

    name: str
    documents: tuple[str, ...]
    starts: np.ndarray            # first token of each document
    kgram_starts: np.ndarray      # first k-gram of each document
    own: np.ndarray               # per token: not starter code
    hashes: np.ndarray            # per k-gram (k-grams never span two documents)
    positions: np.ndarray         # per k-gram: its first token
    fingerprints: np.ndarray      # indices into hashes: the winnowed ones
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))   # per k-gram, -1: ignored
    own_total: int = 0                                                # after build(): own tokens
    slices: dict = field(default_factory=dict)                        # name: (tokens, k-grams, own tokens)

    @property
    def tokens(self) -> int:
        return len(self.own)


@dataclass(frozen=True)
class Pair:
    """The measures of two submissions (``left`` before ``right`` in name order)."""

    left: str
    right: str
    similarity: float
    longest_fragment: int
    total_overlap: int
    left_covered: int
    right_covered: int
    left_total: int
    right_total: int
    documents: tuple[tuple[str, float], ...] = ()   # per document of the same name: its similarity


@dataclass(frozen=True)
class Match:
    """Where a pair matches, for the report: per side, per token, the fragment it belongs to (-1: none)."""

    left: np.ndarray
    right: np.ndarray


STARTER_K = 8   # a run of this many tokens found in the document's starter is starter code (a stub's signature)


def _starter_mask(ids: np.ndarray, starter: np.ndarray) -> np.ndarray:
    """Per token: inside a run of :data:`STARTER_K` tokens that the starter code holds too."""
    return covered(np.isin(kgram_hashes(ids, STARTER_K), starter), len(ids), STARTER_K)


class ClassIndex:
    """Add every submission (:meth:`add`), then :meth:`build` the index, then :meth:`candidates` and
    :meth:`compare`."""

    def __init__(self, starter: list[Document], max_share: float | None = None, k: int = K,
                 window: int = WINDOW) -> None:
        self.k, self.window, self.max_share, self.min_run = k, window, max_share, MIN_RUN
        self.starter = {document.name: np.unique(kgram_hashes(token_ids(document.tokens), STARTER_K))
                        for document in starter}   # each document against its own starter (stubs of lora.py)
        self.entries: list[Entry] = []
        self.ignored_common = 0

    def add(self, name: str, documents: list[Document]) -> Entry:
        """Reduce one submission to its arrays (its documents' text is not kept)."""
        starts, kgram_starts, own, hashes, positions, fingerprints = [], [], [], [], [], []
        offset = kgrams = 0
        for document in documents:
            ids = token_ids(document.tokens)
            doc_hashes = kgram_hashes(ids, self.k)
            starts.append(offset)
            kgram_starts.append(kgrams)
            own.append(~_starter_mask(ids, self.starter.get(document.name, np.zeros(0, dtype=np.uint64))))
            hashes.append(doc_hashes)
            positions.append(np.arange(len(doc_hashes), dtype=np.int64) + offset)
            fingerprints.append(winnow(doc_hashes, self.window) + kgrams)
            offset += len(ids)
            kgrams += len(doc_hashes)

        def joined(arrays: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype=dtype)

        entry = Entry(name=name, documents=tuple(document.name for document in documents),
                      starts=np.array(starts, dtype=np.int64), kgram_starts=np.array(kgram_starts, dtype=np.int64),
                      own=joined(own, bool),
                      hashes=joined(hashes, np.uint64), positions=joined(positions, np.int64),
                      fingerprints=joined(fingerprints, np.int64))
        self.entries.append(entry)
        return entry

    def build(self) -> None:
        """Number every k-gram that counts (not starter, not too common) and drop the hashes."""
        if not self.entries:
            return
        per_entry = [np.unique(entry.hashes) for entry in self.entries]
        every, counts = np.unique(np.concatenate(per_entry), return_counts=True)
        dead = np.zeros(len(every), dtype=bool)
        if self.max_share is not None:
            common = counts > max(2, self.max_share * len(self.entries))
            self.ignored_common = int((common & ~dead).sum())
            dead |= common
        live = every[~dead]
        for entry in self.entries:
            where = np.searchsorted(live, entry.hashes)
            where = np.minimum(where, max(len(live) - 1, 0))
            found = (live[where] == entry.hashes) if len(live) else np.zeros(len(entry.hashes), dtype=bool)
            found &= _all_own(entry, self.k)   # a k-gram that touches starter code counts for nothing
            entry.ids = np.where(found, where, -1).astype(np.int64)
            entry.hashes = np.zeros(0, dtype=np.uint64)
            entry.own_total = int(entry.own.sum())
            entry.slices = {name: (tokens, kgrams, int(entry.own[tokens].sum()))
                            for name, (tokens, kgrams) in _slices(entry).items()}
        self._scratch = np.zeros(len(live) + 1, dtype=bool)   # one membership table, cleared after each use

    def candidates(self) -> list[tuple[int, int]]:
        """Pairs ``(i, j)``, ``i < j``, that share a winnowed fingerprint, from the inverted index."""
        ids, owners = [], []
        for number, entry in enumerate(self.entries):
            fingerprints = np.unique(entry.ids[entry.fingerprints])
            fingerprints = fingerprints[fingerprints >= 0]
            ids.append(fingerprints)
            owners.append(np.full(len(fingerprints), number, dtype=np.int64))
        if not ids:
            return []
        ids_all, owners_all = np.concatenate(ids), np.concatenate(owners)
        order = np.argsort(ids_all, kind="stable")
        ids_all, owners_all = ids_all[order], owners_all[order]
        bounds = np.flatnonzero(np.diff(ids_all)) + 1
        linked = np.zeros((len(self.entries), len(self.entries)), dtype=bool)   # n**2 bytes: 250 kB for 500
        for posting in np.split(owners_all, bounds):
            if len(posting) > 1:
                linked[np.ix_(posting, posting)] = True
        left, right = np.nonzero(np.triu(linked, k=1))
        return list(zip(left.tolist(), right.tolist()))

    def _shared(self, mine: Entry, other: Entry, mine_kgrams: slice = ALL, other_kgrams: slice = ALL,
                tokens: slice = ALL) -> np.ndarray:
        """Per token of ``mine`` in ``tokens`` (its k-grams ``mine_kgrams``): inside a counted k-gram that
        ``other`` has too (among ``other_kgrams``), in a run of :data:`MIN_RUN` such tokens, not starter code."""
        scratch = self._scratch
        theirs = other.ids[other_kgrams]
        live = theirs[theirs >= 0]
        scratch[live] = True
        ids = mine.ids[mine_kgrams]
        hits = scratch[np.maximum(ids, 0)] & (ids >= 0)
        scratch[live] = False
        first = tokens.start or 0
        length = (tokens.stop if tokens.stop is not None else mine.tokens) - first
        starts = np.zeros(length, dtype=bool)    # per token: a shared k-gram starts here
        starts[mine.positions[mine_kgrams][hits] - first] = True
        return _long_runs(covered(starts, length, self.k) & mine.own[tokens], self.min_run)

    def compare(self, i: int, j: int) -> Pair:
        """The measures of submissions ``i`` and ``j``."""
        left, right = self.entries[i], self.entries[j]
        left_mask, right_mask = self._shared(left, right), self._shared(right, left)
        left_total, right_total = left.own_total, right.own_total
        left_covered, right_covered = int(left_mask.sum()), int(right_mask.sum())
        total = left_total + right_total
        similarity = (left_covered + right_covered) / total if total else 0.0
        documents = []
        for name, (l_tokens, l_kgrams, own_l) in left.slices.items():
            if name not in right.slices:
                continue
            r_tokens, r_kgrams, own_r = right.slices[name]
            if min(own_l, own_r) < MIN_DOCUMENT_TOKENS or not (left_mask[l_tokens].any() and right_mask[r_tokens].any()):
                # too short to count alone, or nothing shared even with the whole other side: the share of
                # the whole pair's matches, for the report
                both = own_l + own_r
                documents.append((name, round((int(left_mask[l_tokens].sum()) + int(right_mask[r_tokens].sum()))
                                              / both, 4) if both else 0.0))
                continue
            # only what this document shares with its namesake
            covered_l = int(self._shared(left, right, l_kgrams, r_kgrams, l_tokens).sum())
            covered_r = int(self._shared(right, left, r_kgrams, l_kgrams, r_tokens).sum())
            documents.append((name, round((covered_l + covered_r) / (own_l + own_r), 4)))
            # a module's own share, shrunk towards 0 (a short module needs more evidence)
            similarity = max(similarity, (covered_l + covered_r) / (own_l + own_r + 2 * DOCUMENT_PRIOR))
        return Pair(left.name, right.name, round(similarity, 4),
                    min(longest_run(left_mask), longest_run(right_mask)), min(left_covered, right_covered),
                    left_covered, right_covered, left_total, right_total, tuple(documents))

    def match(self, i: int, j: int) -> Match:
        """Fragments of a pair for the report: each maximal run of shared k-grams on the left is a
        fragment, and the right's tokens in a k-gram of that run carry its number."""
        left, right = self.entries[i], self.entries[j]
        left_mask = self._shared(left, right)
        edges = np.diff(np.concatenate(([0], left_mask.astype(np.int8), [0])))
        left_fragment = np.full(left.tokens, -1, dtype=np.int64)
        fragment_of_id: dict[int, int] = {}
        for number, (start, end) in enumerate(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))):
            left_fragment[start:end] = number
            inside = (left.positions >= start) & (left.positions < end)
            for kgram in left.ids[inside].tolist():
                if kgram >= 0:
                    fragment_of_id.setdefault(kgram, number)
        right_mask = self._shared(right, left)
        right_fragment = np.full(right.tokens, -1, dtype=np.int64)
        for kgram, position in zip(right.ids.tolist(), right.positions.tolist()):
            number = fragment_of_id.get(kgram)
            if number is not None:
                block = right_fragment[position:position + self.k]
                block[block < 0] = number
        right_fragment[~right_mask] = -1
        return Match(left_fragment, right_fragment)


def _all_own(entry: Entry, k: int) -> np.ndarray:
    """Per k-gram: every one of its tokens is the student's own (none covered by starter code)."""
    if not len(entry.positions):
        return np.zeros(0, dtype=bool)
    starter = np.concatenate(([0], np.cumsum(~entry.own, dtype=np.int64)))
    return starter[entry.positions + k] - starter[entry.positions] == 0


def _long_runs(mask: np.ndarray, minimum: int) -> np.ndarray:
    """``mask`` without its runs shorter than ``minimum``."""
    if minimum <= 1 or not mask.any():
        return mask
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = np.zeros(len(mask) + 1, dtype=np.int8)
    long_ = ends - starts >= minimum
    keep[starts[long_]] = 1       # no run starts where another ends: every index is set once
    keep[ends[long_]] = -1
    return np.cumsum(keep[:-1], dtype=np.int32) > 0


def _slices(entry: Entry) -> dict[str, tuple[slice, slice]]:
    """``{document: (its tokens, its k-grams)}`` (a name found twice keeps its first document)."""
    token_ends = [*entry.starts[1:].tolist(), entry.tokens]
    kgram_ends = [*entry.kgram_starts[1:].tolist(), len(entry.ids)]
    result: dict[str, tuple[slice, slice]] = {}
    for name, start, end, kgram_start, kgram_end in zip(entry.documents, entry.starts.tolist(), token_ends,
                                                        entry.kgram_starts.tolist(), kgram_ends):
        result.setdefault(name, (slice(start, end), slice(kgram_start, kgram_end)))
    return result
