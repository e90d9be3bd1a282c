"""Part 1b - transpose a matrix in pure Python (lists of rows, as in part 1)."""

from __future__ import annotations


def transpose(matrix: list[list[float]]) -> list[list[float]]:
    """Return the transpose of ``matrix``: a new list of lists whose row j is column j of ``matrix``."""
    # TODO: build each column of matrix as a new row
    raise NotImplementedError('TODO: build each column of matrix as a new row')
