"""The inner-dimension ValueError says only "shapes do not match" without naming the two shapes."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/invalid_shapes"]
PATCH = [
    ('raise ValueError(f"cannot multiply A of shape {n}x{m} by B of shape {m2}x{p}: "\n                         f"A has {m} columns but B has {m2} rows")',
     'raise ValueError("shapes do not match")'),
]
