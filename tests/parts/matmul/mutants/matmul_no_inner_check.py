"""No inner-dimension check at all: a mismatched product silently returns something or crashes with IndexError."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/invalid_shapes"]
PATCH = [
    ('    if m != m2:\n        raise ValueError(f"cannot multiply A of shape {n}x{m} by B of shape {m2}x{p}: "\n                         f"A has {m} columns but B has {m2} rows")\n',
     ''),
]
