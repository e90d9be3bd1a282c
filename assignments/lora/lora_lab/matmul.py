"""Part 1 - matrix multiplication in pure Python.

A neural network layer is, at heart, a matrix multiplication followed by a bias and a non-linearity.
Write all three with plain Python lists (no torch, no numpy) so the arithmetic is yours.

Matrices are lists of rows: ``[[1.0, 2.0], [3.0, 4.0]]`` is 2x2. None of these functions may modify
their inputs: each returns new lists.
"""

from __future__ import annotations

Matrix = list[list[float]]


def _shape(matrix: Matrix, name: str) -> tuple[int, int]:
    """Rows and columns of ``matrix``; ``ValueError`` when it is empty or ragged."""
    # TODO: return (rows, columns); raise ValueError for an empty matrix or rows of different lengths
    raise NotImplementedError('TODO: return (rows, columns); raise ValueError for an empty matrix or rows of different lengths')


def matrix_multiply(A: Matrix, B: Matrix) -> Matrix:
    """Return the product ``A @ B`` of an n x m and an m x p matrix, as a new n x p list of lists.

    Raises ``ValueError`` naming both shapes (e.g. ``2x3`` and ``4x5``) when the inner dimensions
    differ, and ``ValueError`` when either matrix is empty or ragged.
    """
    # TODO: check the shapes, then compute C[i][j] = sum over k of A[i][k] * B[k][j]
    raise NotImplementedError('TODO: check the shapes, then compute C[i][j] = sum over k of A[i][k] * B[k][j]')


def add_bias(matrix: Matrix, bias: list[float]) -> Matrix:
    """Return a new matrix with ``bias[j]`` added to every entry of column ``j``.

    Raises ``ValueError`` when ``len(bias)`` differs from the number of columns.
    """
    # TODO: add bias[j] to column j of every row, without modifying matrix
    raise NotImplementedError('TODO: add bias[j] to column j of every row, without modifying matrix')


def relu(matrix: Matrix) -> Matrix:
    """Return a new matrix with ``max(0, x)`` applied to every entry."""
    # TODO: replace every negative entry by 0.0, without modifying matrix
    raise NotImplementedError('TODO: replace every negative entry by 0.0, without modifying matrix')
