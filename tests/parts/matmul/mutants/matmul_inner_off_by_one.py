"""The inner sum runs over range(m - 1), so the last term A[i][m-1] * B[m-1][j] is never added."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/square", "matmul/rectangular"]
PATCH = [
    ('for k in range(m):',
     'for k in range(m - 1):'),
]
