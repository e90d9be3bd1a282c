"""Part 1, transposing once and using generator expressions."""


def _shape(matrix, name):
    try:
        n = len(matrix)
        m = len(matrix[0])
    except (TypeError, IndexError):
        raise ValueError(f"{name}: not a matrix") from None
    if n == 0 or m == 0 or any(len(r) != m for r in matrix):
        raise ValueError(f"{name}: empty or ragged")
    return n, m


def matrix_multiply(A, B):
    n, m = _shape(A, "A")
    m2, p = _shape(B, "B")
    if m != m2:
        raise ValueError(f"{n}x{m} and {m2}x{p} do not align")
    bt = [[B[k][j] for k in range(m2)] for j in range(p)]
    out = []
    for a_row in A:
        out.append([float(sum(x * y for x, y in zip(a_row, b_col))) for b_col in bt])
    return out


def add_bias(matrix, bias):
    n, m = _shape(matrix, "matrix")
    if len(bias) != m:
        raise ValueError(f"bias of {len(bias)} for {m} columns")
    return [[matrix[i][j] + bias[j] for j in range(m)] for i in range(n)]


def relu(matrix):
    return [[(v > 0) * v + 0.0 for v in row] for row in matrix]
