"""Only the first row is measured, so a ragged matrix is not rejected with ValueError."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/invalid_shapes"]
PATCH = [
    ('    if any(len(row) != columns for row in matrix):\n        raise ValueError(f"{name} is ragged: its rows have different lengths")\n',
     ''),
]
