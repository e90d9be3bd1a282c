"""The output-column loop runs over range(n) (rows of A) instead of range(p) (columns of B): right only for square products."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/rectangular"]
PATCH = [
    ('for j in range(p):',
     'for j in range(n):'),
]
