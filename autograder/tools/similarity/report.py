"""What ``course similarity`` writes: ``pairs.csv`` (every pair, most similar first), ``clusters.csv``
(groups of submissions joined by flagged pairs), ``unreadable.csv`` and ``report.html``, one self-contained
page (no script, nothing fetched) with the pairs ranked and, for each flagged pair, every document side by
side: matching regions in the same colour on both sides, starter code greyed out."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Callable

import numpy as np

from ...core.untrusted import shown
from .corpus import Analysis, Groups, clusters
from .index import Pair
from .tokens import Document

PAIR_COLUMNS = ("left", "right", "similarity", "longest_fragment", "total_overlap", "left_covered",
                "right_covered", "flagged")
MAX_DETAILED = 40          # flagged pairs shown side by side at most: those that join each cluster first
MAX_LISTED = 200           # pairs in the ranking table at most (every flagged pair, then the next ones)
MAX_LINES = 3000           # lines of one document shown at most
PALETTE = ("#ffd8a8", "#b2f2bb", "#a5d8ff", "#fcc2d7", "#d0bfff", "#ffec99", "#99e9f2", "#ffc9c9")


def _safe_cell(value: object) -> object:
    """A cell a spreadsheet shows as text: a leading ``=``, ``+``, ``-``, ``@`` (or tab, CR) gets a ``'``."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_pairs(pairs: list[Pair], threshold: float, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(PAIR_COLUMNS)
        for pair in pairs:
            writer.writerow([_safe_cell(pair.left), _safe_cell(pair.right), f"{pair.similarity:.4f}",
                             pair.longest_fragment, pair.total_overlap, pair.left_covered, pair.right_covered,
                             int(pair.similarity >= threshold)])


def write_clusters(groups: list[list[str]], flagged: list[Pair], path: Path) -> None:
    best: dict[str, float] = {}
    for pair in flagged:
        for name in (pair.left, pair.right):
            best[name] = max(best.get(name, 0.0), pair.similarity)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("cluster", "size", "max_similarity", "submissions"))
        for number, group in enumerate(groups, start=1):
            writer.writerow((number, len(group), f"{max(best[name] for name in group):.4f}",
                             _safe_cell(" ".join(group))))


def _line_classes(document: Document, own: np.ndarray, fragment: np.ndarray, starter_lines: set[str]
                  ) -> tuple[list[str], dict[int, int], set[int]]:
    """The document's lines, the fragment of each matching line and the starter lines."""
    lines = document.text.splitlines()[:MAX_LINES]
    fragment_of: dict[int, int] = {}
    mine: set[int] = set()
    for token, line in enumerate(document.lines):
        if fragment[token] >= 0:
            fragment_of.setdefault(line, int(fragment[token]))
        if own[token]:
            mine.add(line)
    with_tokens = set(document.lines)
    starter = set()
    for number, text in enumerate(lines, start=1):
        if number in fragment_of or number in mine or not text.strip():
            continue
        if text.strip() in starter_lines or number in with_tokens:   # its tokens are all the starter's
            starter.add(number)
    return lines, fragment_of, starter


def _code(document: Document, own: np.ndarray, fragment: np.ndarray, starter_lines: set[str]) -> str:
    lines, fragment_of, starter = _line_classes(document, own, fragment, starter_lines)
    rows = []
    for number, text in enumerate(lines, start=1):
        style, title = "", ""
        if number in fragment_of:
            colour = PALETTE[fragment_of[number] % len(PALETTE)]
            style = f' style="background:{colour}"'
            title = f' title="fragment {fragment_of[number] + 1}"'
            kind = "match"
        elif number in starter:
            kind = "starter"
        else:
            kind = "own"
        rows.append(f'<span class="line {kind}"{style}{title}><span class="no">{number}</span>'
                    f'{html.escape(text) or " "}</span>')
    if len(document.text.splitlines()) > MAX_LINES:
        rows.append(f'<span class="line cut">... cut after {MAX_LINES} lines</span>')
    return "".join(rows)   # each line is a block: no newline between them


def _slices(index, entry_number: int) -> dict[str, tuple[int, int]]:
    entry = index.entries[entry_number]
    ends = list(entry.starts[1:].tolist()) + [entry.tokens]
    return {name: (start, end) for name, start, end in zip(entry.documents, entry.starts.tolist(), ends)}


def _detailed(flagged: list[Pair]) -> set[tuple[str, str]]:
    """The flagged pairs shown side by side: first, most similar first, those that join each cluster (a
    maximum spanning forest: every submission of a cluster is in one of them), then the most similar of
    the rest, :data:`MAX_DETAILED` in all."""
    joined = Groups()
    joining, rest = [], []
    for pair in flagged:
        (joining if joined.join(pair.left, pair.right) else rest).append(pair)
    return {(pair.left, pair.right) for pair in (joining + rest)[:MAX_DETAILED]}


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#212529}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:2em;border-top:2px solid #dee2e6;padding-top:.8em}
h3{font-size:1em;margin:1.2em 0 .4em}
.note{background:#fff3bf;border-left:4px solid #f59f00;padding:.5em .8em;max-width:60em}
table.rank{border-collapse:collapse;font-size:.9em} table.rank td,table.rank th{border:1px solid #dee2e6;padding:.2em .6em}
table.rank tr.flagged td{background:#fff5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.8em}
.side h4{margin:.2em 0;font-size:.9em;font-family:monospace}
pre{margin:0;font-size:12px;line-height:1.35;border:1px solid #ced4da;overflow-x:auto;max-height:40em;overflow-y:auto}
.line{display:block;white-space:pre;padding-right:.5em} .no{display:inline-block;width:3.5em;color:#868e96;
text-align:right;padding-right:.8em;user-select:none} .starter{color:#adb5bd;background:#f1f3f5}
.legend span{display:inline-block;padding:0 .5em;margin-right:.5em;border:1px solid #ced4da;font-size:.85em}
"""


def render_html(analysis: Analysis, load: Callable[[str], list[Document] | None],
                starter: list[Document]) -> str:
    """The page. ``load(name)`` reads a submission's documents again (``None``: it cannot be read now)."""
    flagged = analysis.flagged()
    groups = clusters(flagged)
    numbers = {name: number for number, name in enumerate(analysis.names)}
    starter_lines = {document.name: {line.strip() for line in document.text.splitlines() if line.strip()}
                     for document in starter}
    out = io.StringIO()
    write = out.write
    write(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Similarity report</title>'
          f'<style>{STYLE}</style></head><body>\n<h1>Similarity of {len(analysis.names)} submissions</h1>\n')
    write('<p class="note">A flag is a reason to look, never a verdict: similar code can have innocent causes '
          '(a hint given in class, a common textbook pattern, working together where that was allowed). '
          'Read the code side by side before you draw any conclusion.</p>\n')
    write(f'<p>Threshold {analysis.threshold:.2f}: <b>{len(flagged)}</b> flagged pairs in <b>{len(groups)}</b> '
          f'clusters; {analysis.compared_in_full} of {len(analysis.pairs)} pairs shared a fingerprint and were '
          f'measured in full. Starter code (the student release) counts for nothing and is greyed out.</p>\n')
    if analysis.unreadable:
        write('<h3>Not compared</h3><ul>')
        for name, why in sorted(analysis.unreadable.items()):
            write(f"<li><code>{html.escape(shown(name))}</code>: {html.escape(why)}</li>")
        write("</ul>\n")
    if analysis.empty:
        write(f'<p>Nothing but starter code in: {html.escape(", ".join(analysis.empty))}</p>\n')
    if groups:
        write('<h3>Clusters</h3><ol>')
        for group in groups:
            write(f"<li>{html.escape(', '.join(group))}</li>")
        write("</ol>\n")
    detailed = _detailed(flagged)
    listed = analysis.pairs[:max(MAX_LISTED, len(flagged))] if len(flagged) <= MAX_LISTED else flagged[:MAX_LISTED]
    write('<h3>Pairs, most similar first</h3><table class="rank"><tr><th>#</th><th>left</th><th>right</th>'
          '<th>similarity</th><th>longest fragment</th><th>left covered</th><th>right covered</th>'
          '<th>flagged</th></tr>\n')
    for rank, pair in enumerate(listed, start=1):
        if pair.similarity <= 0:
            break
        is_flagged = pair.similarity >= analysis.threshold
        link = f'<a href="#pair-{rank}">{rank}</a>' if (pair.left, pair.right) in detailed else str(rank)
        write(f'<tr class="{"flagged" if is_flagged else ""}"><td>{link}</td><td>{html.escape(pair.left)}</td>'
              f'<td>{html.escape(pair.right)}</td><td class="num">{pair.similarity:.3f}</td>'
              f'<td class="num">{pair.longest_fragment}</td><td class="num">{pair.left_covered}/{pair.left_total}</td>'
              f'<td class="num">{pair.right_covered}/{pair.right_total}</td><td>{"yes" if is_flagged else ""}</td></tr>\n')
    write("</table>\n")
    for rank, pair in enumerate(flagged, start=1):
        if (pair.left, pair.right) not in detailed:
            continue
        write(f'<h2 id="pair-{rank}">{rank}. {html.escape(pair.left)} and {html.escape(pair.right)}: '
              f'similarity {pair.similarity:.3f}</h2>\n')
        i, j = numbers[pair.left], numbers[pair.right]
        left_docs, right_docs = load(pair.left), load(pair.right)
        if left_docs is None or right_docs is None:
            write("<p>The submissions cannot be read again for this page.</p>\n")
            continue
        match = analysis.index.match(i, j)
        left_slices, right_slices = _slices(analysis.index, i), _slices(analysis.index, j)
        left_own, right_own = analysis.index.entries[i].own, analysis.index.entries[j].own
        per_document = dict(pair.documents)
        write('<p class="legend">Matching regions share a colour on both sides; '
              '<span class="starter">starter code</span> counts for nothing.</p>\n')
        right_by_name = {document.name: document for document in right_docs}
        shown_documents = sorted((document for document in left_docs if per_document.get(document.name, 0) > 0),
                                 key=lambda document: -per_document[document.name])   # the most similar first
        for document in shown_documents:
            other = right_by_name.get(document.name)
            if other is None or document.name not in left_slices or other.name not in right_slices:
                continue
            (l0, l1), (r0, r1) = left_slices[document.name], right_slices[other.name]
            lines = starter_lines.get(document.name, set())
            write(f'<h3>{html.escape(document.name)}: similarity {per_document.get(document.name, 0):.3f}</h3>'
                  f'<div class="side"><div><h4>{html.escape(pair.left)}</h4><pre>'
                  f'{_code(document, left_own[l0:l1], match.left[l0:l1], lines)}</pre></div>'
                  f'<div><h4>{html.escape(pair.right)}</h4><pre>'
                  f'{_code(other, right_own[r0:r1], match.right[r0:r1], lines)}</pre></div></div>\n')
    write("</body></html>\n")
    return out.getvalue()


def write_report(analysis: Analysis, out: Path, load: Callable[[str], list[Document] | None],
                 starter: list[Document]) -> list[Path]:
    """Write every file of the report into ``out`` (created); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    flagged = analysis.flagged()
    written = [out / "pairs.csv", out / "clusters.csv", out / "unreadable.csv", out / "report.html"]
    write_pairs(analysis.pairs, analysis.threshold, written[0])
    write_clusters(clusters(flagged), flagged, written[1])
    with written[2].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("submission", "reason"))
        for name, why in sorted(analysis.unreadable.items()):
            writer.writerow((_safe_cell(name), _safe_cell(why)))
    written[3].write_text(render_html(analysis, load, starter), encoding="utf-8")
    return written
