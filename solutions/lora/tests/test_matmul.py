"""Public tests for part 1 (matmul). The grader's hidden checks use other inputs."""

import pytest

from lora_lab.matmul import add_bias, matrix_multiply, relu


def test_matrix_multiply_2x3_by_3x2():
    A = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    B = [[7.0, 8.0], [9.0, 10.0], [11.0, 12.0]]
    assert matrix_multiply(A, B) == [[58.0, 64.0], [139.0, 154.0]]


def test_matrix_multiply_column_times_row_is_an_outer_product():
    assert matrix_multiply([[1.0], [2.0]], [[3.0, 4.0]]) == [[3.0, 4.0], [6.0, 8.0]]


def test_matrix_multiply_rejects_mismatched_shapes_and_names_them():
    with pytest.raises(ValueError) as error:
        matrix_multiply([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[1.0, 2.0], [3.0, 4.0]])
    assert "2x3" in str(error.value).replace(" ", "") and "2x2" in str(error.value).replace(" ", "")


def test_matrix_multiply_rejects_ragged_and_empty_matrices():
    with pytest.raises(ValueError):
        matrix_multiply([[1.0, 2.0], [3.0]], [[1.0], [2.0]])
    with pytest.raises(ValueError):
        matrix_multiply([], [[1.0]])


def test_add_bias_adds_per_column_and_keeps_the_input():
    matrix = [[1.0, 2.0], [3.0, 4.0]]
    assert add_bias(matrix, [10.0, 20.0]) == [[11.0, 22.0], [13.0, 24.0]]
    assert matrix == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ValueError):
        add_bias(matrix, [1.0, 2.0, 3.0])


def test_relu_zeroes_negatives_and_keeps_the_input():
    matrix = [[-1.0, 0.0, 2.0]]
    assert relu(matrix) == [[0.0, 0.0, 2.0]]
    assert matrix == [[-1.0, 0.0, 2.0]]
