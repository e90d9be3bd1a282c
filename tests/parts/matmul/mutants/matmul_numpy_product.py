"""matrix_multiply hands the arithmetic to numpy instead of writing the loops in plain Python."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/pure_python"]
PATCH = [
    ('''    result = []
    for i in range(n):''',
     '''    import numpy
    return (numpy.array(A) @ numpy.array(B)).tolist()
    result = []
    for i in range(n):'''),
]
