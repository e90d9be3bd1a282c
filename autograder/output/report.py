"""Statistics of a class gradebook (``course report``): a table per part and a PNG of histograms.

Reads only the CSV of ``course grade-all``: a column per part and ``total``, and ``<part>_max`` and
``max_score`` for the full marks. Submissions that could not be graded (an ``error``) are counted
apart and left out of the statistics, since they have no part scores.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from ..core.untrusted import clean_text
from .gradebook import GradebookError
from .results import fmt_points


@dataclass(frozen=True)
class Stats:
    column: str
    count: int
    mean: float
    median: float
    minimum: float
    maximum: float
    full_marks: float | None    # the column's full marks, when every row agrees on them
    at_full: int                # how many rows reach them

    @property
    def scores_label(self) -> str:
        return self.column if self.full_marks is None else f"{self.column} (/{fmt_points(self.full_marks)})"


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def part_columns(rows: list[dict[str, str]]) -> list[str]:
    """The part columns of the gradebook, in order: those with a ``<part>_max`` companion."""
    names = list(rows[0]) if rows else []
    return [name for name in names if f"{name}_max" in names]


def column_stats(rows: list[dict[str, str]], column: str, max_column: str) -> Stats | None:
    """Statistics of one column over the rows that have a number in it; ``None`` when none do."""
    pairs = [(_number(row.get(column)), _number(row.get(max_column))) for row in rows]
    pairs = [(score, top) for score, top in pairs if score is not None]
    if not pairs:
        return None
    scores = [score for score, _ in pairs]
    tops = {top for _, top in pairs}
    full = tops.pop() if len(tops) == 1 else None
    return Stats(column=column, count=len(scores), mean=statistics.fmean(scores), median=statistics.median(scores),
                 minimum=min(scores), maximum=max(scores), full_marks=full,
                 at_full=sum(1 for score, top in pairs if top is not None and score >= top))


def summarise(rows: list[dict[str, str]]) -> tuple[list[Stats], list[dict[str, str]]]:
    """Statistics per part and of the total over the graded rows, and the rows with an error."""
    errors = [row for row in rows if row.get("error")]
    graded = [row for row in rows if not row.get("error")]
    if not graded:
        raise GradebookError("the gradebook has no graded submission to report on")
    stats = [column_stats(graded, part, f"{part}_max") for part in part_columns(rows)]
    stats.append(column_stats(graded, "total", "max_score"))
    return [item for item in stats if item is not None], errors


def render_stats(stats: list[Stats], errors: list[dict[str, str]]) -> str:
    """The statistics as a text table, then the submissions that could not be graded."""
    header = f"{'part':<20}{'graded':>8}{'mean':>9}{'median':>9}{'min':>8}{'max':>8}{'full marks':>12}"
    lines = [header, "-" * len(header)]
    for item in stats:
        lines.append(f"{item.scores_label:<20}{item.count:>8}{item.mean:>9.2f}{item.median:>9.2f}"
                     f"{fmt_points(item.minimum):>8}{fmt_points(item.maximum):>8}{item.at_full:>12}")
    if errors:
        lines.append(f"{len(errors)} submissions could not be graded and are left out:")
        lines += [f"  {clean_text(row['submission'], 200, newlines=False)}: {clean_text(row['error'], 300, newlines=False)}"
                  for row in errors]
    return "\n".join(lines)


def plot_histograms(rows: list[dict[str, str]], stats: list[Stats], path: Path) -> None:
    """A PNG: the histogram of totals on top, one small histogram per part below."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    graded = [row for row in rows if not row.get("error")]
    parts = [item for item in stats if item.column != "total"]
    total = next(item for item in stats if item.column == "total")
    columns = max(1, min(3, len(parts)))
    lines = (len(parts) + columns - 1) // columns
    figure = pyplot.figure(figsize=(4 * columns, 3.2 * (lines + 1)))
    grid = figure.add_gridspec(lines + 1, columns)

    def histogram(axes, item: Stats, title: str) -> None:
        values = [_number(row.get(item.column)) for row in graded]
        values = [value for value in values if value is not None]
        top = item.full_marks if item.full_marks is not None else max(values)
        axes.hist(values, bins=min(20, max(5, int(top) + 1)), range=(0, max(top, 1e-9)), color="#4c72b0",
                  edgecolor="white")
        axes.set(title=title, xlabel="points", ylabel="submissions")

    histogram(figure.add_subplot(grid[0, :]), total,
              f"total (n={total.count}, mean {total.mean:.1f}, median {total.median:g})")
    for index, item in enumerate(parts):
        histogram(figure.add_subplot(grid[1 + index // columns, index % columns]), item,
                  f"{item.scores_label}: mean {item.mean:.1f}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
