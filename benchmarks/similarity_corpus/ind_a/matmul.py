"""Matrix helpers, written with explicit index loops over preallocated results."""


def _shape(matrix, name):
    if not isinstance(matrix, list) or len(matrix) == 0:
        raise ValueError(name + " is empty")
    width = len(matrix[0])
    if width == 0:
        raise ValueError(name + " has empty rows")
    for row in matrix:
        if len(row) != width:
            raise ValueError(name + " is ragged")
    return len(matrix), width


def matrix_multiply(A, B):
    rows_a, cols_a = _shape(A, "A")
    rows_b, cols_b = _shape(B, "B")
    if cols_a != rows_b:
        raise ValueError("cannot multiply %dx%d by %dx%d" % (rows_a, cols_a, rows_b, cols_b))
    result = [[0.0] * cols_b for _ in range(rows_a)]
    for i in range(rows_a):
        for k in range(cols_a):
            a_ik = A[i][k]
            if a_ik == 0:
                continue
            for j in range(cols_b):
                result[i][j] += a_ik * B[k][j]
    return result


def add_bias(matrix, bias):
    _, cols = _shape(matrix, "matrix")
    if cols != len(bias):
        raise ValueError("bias has %d entries for %d columns" % (len(bias), cols))
    out = []
    for row in matrix:
        new_row = list(row)
        for j in range(cols):
            new_row[j] = new_row[j] + bias[j]
        out.append(new_row)
    return out


def relu(matrix):
    out = []
    for row in matrix:
        out.append([x if x > 0 else 0.0 for x in row])
    return out
