"""add_bias never checks the bias length, so zip silently ignores the extra bias entries."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/add_bias"]
PATCH = [
    ('    if len(bias) != columns:\n        raise ValueError(f"bias has {len(bias)} entries but the matrix has {columns} columns")\n',
     ''),
]
