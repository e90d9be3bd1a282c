"""Functional style: map, zip and helpers, no index arithmetic."""
from functools import reduce
from operator import add, mul


def _shape(matrix, name):
    widths = set(map(len, matrix)) if matrix else set()
    if len(widths) != 1 or 0 in widths:
        raise ValueError("%s must be rectangular and non-empty" % name)
    return (len(matrix), widths.pop())


def _dot(u, v):
    return reduce(add, map(mul, u, v), 0.0)


def matrix_multiply(A, B):
    shape_a, shape_b = _shape(A, "A"), _shape(B, "B")
    if shape_a[1] != shape_b[0]:
        raise ValueError("inner dimensions differ: {}x{} and {}x{}".format(*shape_a, *shape_b))
    transposed = list(map(list, zip(*B)))
    return list(map(lambda row: list(map(lambda col: float(_dot(row, col)), transposed)), A))


def add_bias(matrix, bias):
    if _shape(matrix, "matrix")[1] != len(bias):
        raise ValueError("bias does not fit the columns")
    return list(map(lambda row: list(map(add, row, bias)), matrix))


def relu(matrix):
    return list(map(lambda row: list(map(lambda v: max(v, 0.0), row)), matrix))
