"""Question 1: multiplies B^T by A^T, so C_python is the transposed product (3 x 4) and cannot match A @ B."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q1_matmul"]
PATCH = [("C_python = matrix_multiply(A, B)\n", "C_python = matrix_multiply(B_t.T.tolist(), A_t.T.tolist())\n")]
