"""forward computes x @ W and forgets to add the bias."""

MODULE = "linear"
CAUGHT_BY = ["linear/forward", "linear/from_torch"]
PATCH = [
    ('sum(xi * wi for xi, wi in zip(row, column)) + b for column, b in zip(columns, bias)',
     'sum(xi * wi for xi, wi in zip(row, column)) for column, b in zip(columns, bias)'),
]
