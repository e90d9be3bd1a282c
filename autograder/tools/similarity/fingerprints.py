"""k-gram hashes of a token stream and their winnowed fingerprints (Schleimer, Wilkerson and Aiken, "Winnowing:
local algorithms for document fingerprinting", SIGMOD 2003, the algorithm behind MOSS).

Every run of :data:`K` consecutive tokens is hashed; in every window of :data:`WINDOW` consecutive hashes the
smallest is kept (the rightmost of equals). The guarantee: two documents that share a run of at least
``K + WINDOW - 1`` tokens share a fingerprint, and runs shorter than ``K`` are never noise. The fingerprints
go into the class's index (:mod:`.index`); a pair the index brings together is then measured on all its
k-grams, so coverage and fragments are exact.

Written here on :mod:`numpy` rather than taken from ``copydetect`` (the one maintained Python library of
winnowing): copydetect tokenises with Pygments (names kept apart from keywords but not the ``for``/``while``
rewrite, no notebooks), compares every pair of files in full (it is reported at ~7 GB on ~4,000 files, its
issue 28) and its last release is March 2024; the hashing is thirty lines and the benchmark
(``benchmarks/similarity.py``) measures it against copydetect and Dolos on the same corpus.
"""

from __future__ import annotations

import zlib

import numpy as np

K = 12          # tokens per k-gram (a statement is 5-15 tokens of :mod:`.tokens`)
WINDOW = 8      # k-grams per winnowing window: every shared run of K + WINDOW - 1 = 19 tokens is found
_BASE = np.uint64(1_000_003)
_VOCABULARY: dict[str, int] = {}


def token_ids(tokens: tuple[str, ...] | list[str]) -> np.ndarray:
    """Each token as a stable 32-bit number (CRC-32 of its text: the same in every run and process)."""
    ids = np.empty(len(tokens), dtype=np.uint64)
    for index, token in enumerate(tokens):
        value = _VOCABULARY.get(token)
        if value is None:
            value = _VOCABULARY.setdefault(token, zlib.crc32(token.encode("utf-8")) + 1)
        ids[index] = value
    return ids


def kgram_hashes(ids: np.ndarray, k: int = K) -> np.ndarray:
    """The hash of every k-gram of ``ids`` (``len(ids) - k + 1`` of them, none for a shorter stream):
    a polynomial hash modulo 2**64."""
    count = len(ids) - k + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    hashes = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(k):
            hashes = hashes * _BASE + ids[offset:offset + count]
        hashes ^= hashes >> np.uint64(29)
        hashes *= np.uint64(0xBF58476D1CE4E5B9)
        hashes ^= hashes >> np.uint64(32)
    return hashes


def winnow(hashes: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Positions of the fingerprints of ``hashes``: the rightmost minimum of every window, each once."""
    if len(hashes) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(hashes) <= window:
        reversed_ = hashes[::-1]
        return np.array([len(hashes) - 1 - int(np.argmin(reversed_))])
    windows = np.lib.stride_tricks.sliding_window_view(hashes, window)
    rightmost = window - 1 - np.argmin(windows[:, ::-1], axis=1)
    return np.unique(np.arange(len(windows)) + rightmost)


def covered(starts: np.ndarray, length: int, k: int = K) -> np.ndarray:
    """Which of ``length`` tokens lie in a k-gram starting where ``starts`` (a boolean per token, or per
    k-gram of a stream: the first ``len(starts)`` tokens) is true."""
    marks = np.zeros(length, dtype=np.int32)
    count = min(len(starts), length)
    marks[:count] = starts[:count]
    running = np.cumsum(marks, dtype=np.int32)         # k-grams starting at or before each token
    running[k:] -= running[:-k].copy()                 # ... minus those that ended before it
    return running > 0


def longest_run(mask: np.ndarray) -> int:
    """The length of the longest run of true values."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
