"""relu zeroes the negative entries of the caller's matrix in place and returns that same matrix."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/relu"]
PATCH = [
    ('    return [[value if value > 0 else 0.0 for value in row] for row in matrix]',
     '    for row in matrix:\n        for j, value in enumerate(row):\n            if value < 0:\n                row[j] = 0.0\n    return matrix'),
]
