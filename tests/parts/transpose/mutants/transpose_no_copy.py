"""transpose returns the matrix itself for a square matrix."""

MODULE = "transpose"
CAUGHT_BY = ["transpose/values"]
PATCH = [("    return [[row[j] for row in matrix] for j in range(len(matrix[0]))]",
          "    return matrix if len(matrix) == len(matrix[0]) else [[row[j] for row in matrix] for j in range(len(matrix[0]))]")]
