"""add_bias adds the bias into the caller's matrix in place and returns that same matrix."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/add_bias"]
PATCH = [
    ('    return [[value + b for value, b in zip(row, bias)] for row in matrix]',
     '    for row in matrix:\n        for j in range(columns):\n            row[j] += bias[j]\n    return matrix'),
]
