"""Part 1 with comprehensions, zip and sum instead of index loops."""

from __future__ import annotations

ALTERNATE_FOR = "matmul"


def _check(matrix, name):
    if not matrix or not matrix[0] or len({len(row) for row in matrix}) != 1:
        raise ValueError(f"{name} must be a non-empty rectangular matrix")
    return len(matrix), len(matrix[0])


def matrix_multiply(A, B):
    (n, m), (m2, p) = _check(A, "A"), _check(B, "B")
    if m != m2:
        raise ValueError(f"shapes ({n}, {m}) and ({m2}, {p}) are not aligned")
    columns = list(zip(*B))
    return [[float(sum(a * b for a, b in zip(row, column))) for column in columns] for row in A]


def add_bias(matrix, bias):
    if len(bias) != _check(matrix, "matrix")[1]:
        raise ValueError("bias length must equal the number of columns")
    return [[value + b for value, b in zip(row, bias)] for row in matrix]


def relu(matrix):
    return [[max(0.0, value) for value in row] for row in matrix]
